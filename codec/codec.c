/* The codec registry: a table from codec id to coder, the per-thread zstd contexts and the
 * shared BOA contexts. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "boa.h"
#include "codec.h"

/* zstd contexts are small and cheap to keep: one per thread that codes, made on first use and
 * freed when the thread exits. */
struct zstd_ctx {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
};

struct codec {
	int zstd_level;
	pthread_key_t zstd_key;
	int zstd_key_made;
	/* BOA coder contexts hold megabytes of model tables: a bounded set is shared by all threads
	 * (FUSE workers, read-ahead, recompression) rather than one per thread. At most boa_max
	 * exist. */
	pthread_mutex_t boa_lock;
	pthread_cond_t boa_cond;
	struct boa_ctx **boa_free;  /* free, used since their last reset */
	struct boa_ctx **boa_ready; /* free, reset ahead for their next decode (codec_boa_idle) */
	size_t boa_free_count, boa_ready_count, boa_made, boa_max;
	size_t boa_dirty; /* boa_free_count, also stored atomically: codec_boa_idle's quick look */
};

struct codec_ops {
	const char *name;
	int uses_model;
	int fast; /* written by codec_encode_fast */
	int (*encode)(struct codec *c, const struct codec_args *a, const void *raw, size_t len,
	              void *out, size_t cap, size_t *out_len);
	int (*decode)(struct codec *c, const struct codec_args *a, const void *payload,
	              size_t payload_len, void *raw, size_t raw_len);
};

static void zstd_ctx_free(void *arg)
{
	struct zstd_ctx *z = arg;

	if (!z)
		return;
	ZSTD_freeCCtx(z->cctx);
	ZSTD_freeDCtx(z->dctx);
	free(z);
}

/* The calling thread's zstd contexts; NULL when out of memory. */
static struct zstd_ctx *zstd_ctx(struct codec *c)
{
	struct zstd_ctx *z = pthread_getspecific(c->zstd_key);

	if (z)
		return z;
	z = calloc(1, sizeof(*z));
	if (!z)
		return NULL;
	z->cctx = ZSTD_createCCtx();
	z->dctx = ZSTD_createDCtx();
	if (!z->cctx || !z->dctx || pthread_setspecific(c->zstd_key, z)) {
		zstd_ctx_free(z);
		return NULL;
	}
	return z;
}

/* A free context, the most recently used first (its tables are likelier in the caches): for a
 * decode one reset ahead if there is one, for an encode one that was not (an encode resets
 * anyway). Lock held. */
static struct boa_ctx *boa_take_locked(struct codec *c, int decode)
{
	struct boa_ctx *b = NULL;

	if (c->boa_ready_count && (decode || !c->boa_free_count))
		b = c->boa_ready[--c->boa_ready_count];
	else if (c->boa_free_count)
		b = c->boa_free[--c->boa_free_count];
	__atomic_store_n(&c->boa_dirty, c->boa_free_count, __ATOMIC_RELAXED);
	return b;
}

static struct boa_ctx *boa_acquire(struct codec *c, int decode)
{
	struct boa_ctx *b = NULL;

	pthread_mutex_lock(&c->boa_lock);
	while (!c->boa_free_count && !c->boa_ready_count && c->boa_made >= c->boa_max)
		pthread_cond_wait(&c->boa_cond, &c->boa_lock);
	b = boa_take_locked(c, decode);
	if (!b && boa_ctx_new(&b) == 0)
		c->boa_made++;
	pthread_mutex_unlock(&c->boa_lock);
	return b;
}

/* Gives `b` back: to the ready set when `ready` (reset ahead), else to the free one. */
static void boa_give_back(struct codec *c, struct boa_ctx *b, int ready)
{
	if (!b)
		return;
	pthread_mutex_lock(&c->boa_lock);
	if (ready)
		c->boa_ready[c->boa_ready_count++] = b;
	else
		c->boa_free[c->boa_free_count++] = b;
	__atomic_store_n(&c->boa_dirty, c->boa_free_count, __ATOMIC_RELAXED);
	pthread_cond_signal(&c->boa_cond);
	pthread_mutex_unlock(&c->boa_lock);
}

static void boa_release(struct codec *c, struct boa_ctx *b)
{
	boa_give_back(c, b, 0);
}

void codec_boa_idle(struct codec *c)
{
	struct boa_ctx *b;

	if (!__atomic_load_n(&c->boa_dirty, __ATOMIC_RELAXED))
		return; /* the common case, without the lock: nothing used since its reset */
	pthread_mutex_lock(&c->boa_lock);
	b = c->boa_free_count ? c->boa_free[--c->boa_free_count] : NULL;
	__atomic_store_n(&c->boa_dirty, c->boa_free_count, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&c->boa_lock);
	/* Out of both sets meanwhile: a caller that finds no other makes one (up to the limit)
	 * rather than wait for this thread, which the scheduler may not run for a while. */
	if (b)
		boa_give_back(c, b, boa_ctx_prepare(b, 0, 0) == 0);
}

int codec_boa_warm(struct codec *c, int level, size_t len, size_t count)
{
	int rc = 0;

	while (!rc) {
		struct boa_ctx *b = NULL;

		pthread_mutex_lock(&c->boa_lock);
		if (c->boa_ready_count < count && c->boa_made < c->boa_max) {
			rc = boa_ctx_new(&b);
			if (!rc)
				c->boa_made++;
		}
		pthread_mutex_unlock(&c->boa_lock);
		if (!b)
			break;
		rc = boa_ctx_prepare(b, level, len);
		boa_give_back(c, b, rc == 0);
	}
	return rc;
}

static int raw_encode(struct codec *c, const struct codec_args *a, const void *raw, size_t len,
                      void *out, size_t cap, size_t *out_len)
{
	if (len > cap)
		return -ENOSPC;
	memcpy(out, raw, len);
	*out_len = len;
	return 0;
}

static int raw_decode(struct codec *c, const struct codec_args *a, const void *payload,
                      size_t payload_len, void *raw, size_t raw_len)
{
	if (payload_len != raw_len)
		return -EIO;
	memcpy(raw, payload, raw_len);
	return 0;
}

static int zstd_encode(struct codec *c, const struct codec_args *a, const void *raw, size_t len,
                       void *out, size_t cap, size_t *out_len)
{
	struct zstd_ctx *z = zstd_ctx(c);
	size_t n;

	if (!z)
		return -ENOMEM;
	n = ZSTD_compressCCtx(z->cctx, out, cap, raw, len,
	                      a && a->level ? a->level : c->zstd_level);
	if (ZSTD_isError(n))
		return cap < ZSTD_compressBound(len) ? -ENOSPC : -EIO;
	*out_len = n;
	return 0;
}

static int zstd_decode(struct codec *c, const struct codec_args *a, const void *payload,
                       size_t payload_len, void *raw, size_t raw_len)
{
	struct zstd_ctx *z = zstd_ctx(c);
	size_t n;

	if (!z)
		return -ENOMEM;
	n = ZSTD_decompressDCtx(z->dctx, raw, raw_len, payload, payload_len);
	if (ZSTD_isError(n) || n != raw_len)
		return -EIO;
	return 0;
}

static int boa_encode_with(struct codec *c, const struct codec_args *a, const void *raw, size_t len,
                           void *out, size_t cap, size_t *out_len)
{
	struct boa_ctx *b = a && a->boa ? a->boa : boa_acquire(c, 0);
	int rc;

	if (!b)
		return -ENOMEM;
	rc = boa_ctx_encode(b, a ? a->model : NULL, a ? a->level : BOA_LEVEL_DEFAULT, raw, len, out,
	                    cap, out_len);
	if (!a || b != a->boa)
		boa_release(c, b);
	return rc;
}

static int boa_decode_with(struct codec *c, const struct codec_args *a, const void *payload,
                           size_t payload_len, void *raw, size_t raw_len)
{
	struct boa_ctx *b = a && a->boa ? a->boa : boa_acquire(c, 1);
	int rc;

	if (!b)
		return -ENOMEM;
	rc = boa_ctx_decode(b, a ? a->model : NULL, payload, payload_len, raw, raw_len);
	if (!a || b != a->boa)
		boa_release(c, b);
	return rc;
}

static const struct codec_ops codecs[CODEC_COUNT] = {
    [CODEC_RAW] = {"raw", 0, 1, raw_encode, raw_decode},
    [CODEC_ZSTD] = {"zstd", 0, 1, zstd_encode, zstd_decode},
    [CODEC_BOA] = {"boa", 1, 0, boa_encode_with, boa_decode_with},
};

int codec_new(int zstd_level, size_t boa_contexts, struct codec **out)
{
	struct codec *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	c->zstd_level = zstd_level;
	pthread_mutex_init(&c->boa_lock, NULL);
	pthread_cond_init(&c->boa_cond, NULL);
	c->boa_max = boa_contexts ? boa_contexts : 1;
	c->boa_free = calloc(c->boa_max, sizeof(*c->boa_free));
	c->boa_ready = calloc(c->boa_max, sizeof(*c->boa_ready));
	if (!c->boa_free || !c->boa_ready) {
		codec_free(c);
		return -ENOMEM;
	}
	rc = -pthread_key_create(&c->zstd_key, zstd_ctx_free);
	if (rc) {
		codec_free(c);
		return rc;
	}
	c->zstd_key_made = 1;
	*out = c;
	return 0;
}

void codec_free(struct codec *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->boa_free_count; i++)
		boa_ctx_free(c->boa_free[i]);
	for (size_t i = 0; i < c->boa_ready_count; i++)
		boa_ctx_free(c->boa_ready[i]);
	free(c->boa_free);
	free(c->boa_ready);
	pthread_mutex_destroy(&c->boa_lock);
	pthread_cond_destroy(&c->boa_cond);
	if (c->zstd_key_made) {
		/* The destructor runs only at thread exit: free the calling thread's now. */
		zstd_ctx_free(pthread_getspecific(c->zstd_key));
		pthread_setspecific(c->zstd_key, NULL);
		pthread_key_delete(c->zstd_key);
	}
	free(c);
}

const char *codec_name(uint8_t codec)
{
	return codec < CODEC_COUNT ? codecs[codec].name : "unknown";
}

int codec_uses_model(uint8_t codec)
{
	return codec < CODEC_COUNT && codecs[codec].uses_model;
}

int codec_is_fast(uint8_t codec)
{
	return codec < CODEC_COUNT && codecs[codec].fast;
}

size_t codec_bound(size_t len)
{
	return ZSTD_compressBound(len);
}

int codec_encode_fast(struct codec *c, const void *raw, size_t len, void *out, size_t *out_len,
                      uint8_t *codec)
{
	size_t n = 0;
	int rc = zstd_encode(c, NULL, raw, len, out, codec_bound(len), &n);

	if (rc == -ENOMEM)
		return rc;
	/* Keep it raw unless zstd saves at least 1/8: decoding raw costs nothing. */
	if (rc || n > len - len / 8) {
		memcpy(out, raw, len);
		*out_len = len;
		*codec = CODEC_RAW;
		return 0;
	}
	*out_len = n;
	*codec = CODEC_ZSTD;
	return 0;
}

int codec_encode(struct codec *c, uint8_t codec, const struct codec_args *a, const void *raw,
                 size_t len, void *out, size_t cap, size_t *out_len)
{
	if (codec >= CODEC_COUNT)
		return -EINVAL;
	return codecs[codec].encode(c, a, raw, len, out, cap, out_len);
}

int codec_decode(struct codec *c, uint8_t codec, const struct codec_args *a, const void *payload,
                 size_t payload_len, void *raw, size_t raw_len)
{
	if (codec >= CODEC_COUNT)
		return -EIO;
	return codecs[codec].decode(c, a, payload, payload_len, raw, raw_len);
}
