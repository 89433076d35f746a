#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "boa.h"
#include "boa_model.h"
#include "boa_predict.h"
#include "mix_ac.h"

#define BOA_VERSION    BOA_CHUNK_VERSION /* written; 1 to 4 (earlier level tables) still read */
#define BOA_HEADER_MAX (1 + 10 + 4 + 4)
#define BOA_CHECK_STEP 4096 /* bytes between checks that coding still beats storing */

struct boa_ctx {
	struct bp *bp;     /* predictor of the last level used, kept for the next call */
	const int *cancel; /* set by another thread: stop (boa_ctx_set_cancel) */
	size_t ready_len;  /* bp reset for a chunk of this length, untouched since; 0: not */
	size_t last_len;   /* raw length of the last chunk decoded; 0: none since bp was made */
};

struct chunk_header {
	int version;
	int level;
	uint64_t raw_len;
	uint32_t model_id;
	uint32_t check;
	size_t len; /* header bytes */
};

size_t boa_bound(size_t len)
{
	return len + BOA_HEADER_MAX;
}

int boa_level_uses_model(int level)
{
	const struct bp_level *lv = bp_level_get(BOA_VERSION, level);

	return lv ? lv->mamba : -EINVAL;
}

/* Whether a chunk of this version and level (0 = stored) names a model. */
static int chunk_uses_model(int version, int level)
{
	const struct bp_level *lv = level ? bp_level_get(version, level) : NULL;

	return lv && lv->mamba;
}

int boa_ctx_new(struct boa_ctx **out)
{
	struct boa_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	*out = c;
	return 0;
}

void boa_ctx_free(struct boa_ctx *c)
{
	if (!c)
		return;
	bp_free(c->bp);
	free(c);
}

void boa_ctx_set_cancel(struct boa_ctx *c, const int *flag)
{
	c->cancel = flag;
}

/* A relaxed load every BOA_CANCEL_STEP bytes costs nothing next to coding them, and bounds how
 * long a cancelled call runs on: a few hundred bytes, milliseconds even at the slowest level. */
static int cancelled(const struct boa_ctx *c, size_t i)
{
	return (i & (BOA_CANCEL_STEP - 1)) == 0 && c->cancel &&
	       __atomic_load_n(c->cancel, __ATOMIC_RELAXED);
}

static uint32_t model_id_of(const struct boa_model *m)
{
	return boa_model_id(m);
}

/* The predictor for `lv` (and `m` if the level uses it), reusing the last one if it fits. */
static int ctx_predictor(struct boa_ctx *c, const struct bp_level *lv, const struct boa_model *m,
                         struct bp **out)
{
	int rc;

	if (c->bp && bp_params(c->bp) == lv && (!lv->mamba || bp_model(c->bp) == m)) {
		*out = c->bp;
		return 0;
	}
	bp_free(c->bp);
	c->bp = NULL;
	c->ready_len = c->last_len = 0;
	rc = bp_new(lv, m, &c->bp);
	if (rc)
		return rc;
	*out = c->bp;
	return 0;
}

static size_t header_write(uint8_t *h, const struct chunk_header *ch)
{
	size_t n = 0;
	uint64_t v = ch->raw_len;

	h[n++] = (uint8_t)(ch->version << 4 | ch->level);
	do {
		h[n++] = (uint8_t)((v & 127) | (v > 127 ? 128 : 0));
		v >>= 7;
	} while (v);
	if (chunk_uses_model(ch->version, ch->level)) {
		for (int i = 0; i < 4; i++)
			h[n++] = (uint8_t)(ch->model_id >> (8 * i));
	}
	for (int i = 0; i < 4; i++)
		h[n++] = (uint8_t)(ch->check >> (8 * i));
	return n;
}

static int header_read(const uint8_t *h, size_t len, struct chunk_header *ch)
{
	size_t n = 0;
	int shift = 0;

	memset(ch, 0, sizeof(*ch));
	if (len < 1 || h[0] >> 4 < 1 || h[0] >> 4 > BOA_VERSION || (h[0] & 15) > BOA_LEVEL_MAX)
		return -EIO;
	ch->version = h[0] >> 4;
	ch->level = h[n++] & 15;
	for (;;) {
		if (n >= len || shift > 63)
			return -EIO;
		ch->raw_len |= (uint64_t)(h[n] & 127) << shift;
		shift += 7;
		if (!(h[n++] & 128))
			break;
	}
	if (chunk_uses_model(ch->version, ch->level)) {
		if (len - n < 4)
			return -EIO;
		for (int i = 0; i < 4; i++)
			ch->model_id |= (uint32_t)h[n++] << (8 * i);
	}
	if (len - n < 4)
		return -EIO;
	for (int i = 0; i < 4; i++)
		ch->check |= (uint32_t)h[n++] << (8 * i);
	ch->len = n;
	return 0;
}

int boa_chunk_info(const void *in, size_t in_len, int *level, uint64_t *raw_len, uint32_t *model_id)
{
	struct chunk_header ch;
	int rc = header_read(in, in_len, &ch);

	if (rc)
		return rc;
	*level = ch.level;
	*raw_len = ch.raw_len;
	*model_id = ch.model_id;
	return 0;
}

static int store(const struct chunk_header *coded, const void *in, size_t len, uint8_t *out,
                 size_t cap, size_t *out_len)
{
	struct chunk_header ch = *coded;
	size_t n;

	ch.level = 0;
	ch.model_id = 0;
	n = header_write(out, &ch); /* BOA_HEADER_MAX <= boa_bound(0) <= cap, checked */
	if (cap - n < len)
		return -ENOSPC;
	if (len)
		memcpy(out + n, in, len);
	*out_len = n + len;
	return 0;
}

int boa_ctx_encode(struct boa_ctx *c, const struct boa_model *m, int level, const void *in,
                   size_t len, void *out, size_t cap, size_t *out_len)
{
	const struct bp_level *lv = bp_level_get(BOA_VERSION, level);
	const uint8_t *src = in;
	uint8_t *dst = out;
	uint8_t hdr[BOA_HEADER_MAX];
	struct chunk_header ch;
	struct mix_enc e;
	struct bp *p;
	size_t hlen, stored_len, limit, coded;
	int rc;

	if (!lv || len > BOA_CHUNK_MAX)
		return -EINVAL;
	if (cap < BOA_HEADER_MAX)
		return -ENOSPC;
	if (lv->mamba && !m)
		return -ENOTSUP;
	ch.version = BOA_VERSION;
	ch.level = level;
	ch.raw_len = len;
	ch.model_id = lv->mamba ? model_id_of(m) : 0;
	ch.check = XXH32(in, len, 0);
	hlen = header_write(hdr, &ch);
	stored_len = hlen - (lv->mamba ? 4 : 0) + len;
	if (len == 0 || stored_len <= hlen + 1)
		return store(&ch, in, len, dst, cap, out_len);
	rc = ctx_predictor(c, lv, m, &p);
	if (rc)
		return rc;
	/* Code only while it stays smaller than storing, and within cap. */
	limit = stored_len - hlen - 1;
	if (limit > cap - hlen)
		limit = cap - hlen;
	c->ready_len = 0;
	bp_reset(p, src, len);
	mix_enc_init(&e, dst + hlen, limit);
	for (size_t i = 0; i < len; i++) {
		if (cancelled(c, i))
			return -ECANCELED;
		bp_encode_byte(p, &e, src[i]);
		if ((i & (BOA_CHECK_STEP - 1)) == 0 && e.overflow)
			break;
	}
	if (e.overflow || mix_enc_finish(&e, &coded))
		return store(&ch, in, len, dst, cap, out_len);
	memcpy(dst, hdr, hlen);
	*out_len = hlen + coded;
	return 0;
}

int boa_ctx_decode(struct boa_ctx *c, const struct boa_model *m, const void *in, size_t in_len,
                   void *out, size_t raw_len)
{
	const uint8_t *src = in;
	uint8_t *dst = out;
	const struct bp_level *lv;
	struct chunk_header ch;
	struct mix_dec d;
	struct bp *p;
	int rc;

	rc = header_read(src, in_len, &ch);
	if (rc)
		return rc;
	if (ch.raw_len != raw_len || raw_len > BOA_CHUNK_MAX)
		return -EIO;
	if (ch.level == 0) {
		if (in_len - ch.len != raw_len)
			return -EIO;
		if (raw_len)
			memcpy(dst, src + ch.len, raw_len);
		goto check;
	}
	lv = bp_level_get(ch.version, ch.level);
	if (lv->mamba) {
		if (!m)
			return -ENOTSUP;
		if (model_id_of(m) != ch.model_id)
			return -ENOENT;
	}
	rc = ctx_predictor(c, lv, m, &p);
	if (rc)
		return rc;
	if (raw_len && c->ready_len == raw_len)
		bp_rebind(p, dst); /* reset by boa_ctx_prepare for this level and length */
	else
		bp_reset(p, dst, raw_len);
	c->ready_len = 0;
	c->last_len = raw_len;
	mix_dec_init(&d, src + ch.len, in_len - ch.len);
	for (size_t i = 0; i < raw_len; i++) {
		if (cancelled(c, i))
			return -ECANCELED;
		bp_decode_byte(p, &d, dst + i);
		/* A payload far too short: stop early rather than decode zeros. */
		if (d.pos > d.len + 4)
			return -EIO;
	}
	if (mix_dec_finish(&d))
		return -EIO;
check:
	if (XXH32(dst, raw_len, 0) != ch.check)
		return -EIO;
	return 0;
}

int boa_ctx_prepare(struct boa_ctx *c, int level, size_t len)
{
	const struct bp_level *lv;
	struct bp *p;
	int rc;

	if (level == 0) {
		if (!c->bp || !c->last_len)
			return -ENOTSUP;
		lv = bp_params(c->bp);
		len = c->last_len;
	} else {
		lv = bp_level_get(BOA_VERSION, level);
	}
	if (!lv || len == 0 || len > BOA_CHUNK_MAX)
		return -EINVAL;
	if (lv->mamba) /* its reset runs the model on the chunk's start: not worth doing ahead */
		return -ENOTSUP;
	rc = ctx_predictor(c, lv, NULL, &p);
	if (rc)
		return rc;
	bp_reset(p, NULL, len);
	c->ready_len = len;
	return 0;
}

int boa_encode(const struct boa_model *m, int level, const void *in, size_t len, void *out,
               size_t cap, size_t *out_len)
{
	struct boa_ctx *c;
	int rc = boa_ctx_new(&c);

	if (rc)
		return rc;
	rc = boa_ctx_encode(c, m, level, in, len, out, cap, out_len);
	boa_ctx_free(c);
	return rc;
}

int boa_decode(const struct boa_model *m, const void *in, size_t in_len, void *out, size_t raw_len)
{
	struct boa_ctx *c;
	int rc = boa_ctx_new(&c);

	if (rc)
		return rc;
	rc = boa_ctx_decode(c, m, in, in_len, out, raw_len);
	boa_ctx_free(c);
	return rc;
}
