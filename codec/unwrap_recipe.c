/* unwrap_recipe — decoding streams, the recipe search, regeneration and the library canaries.
 *
 * A recipe is accepted only when compressing the decoded bytes with it gives every byte of the
 * original stream. The search compares while compressing (deflate output is produced in
 * REGEN_CHUNK pieces and compared as it comes), so a wrong recipe usually costs one deflate
 * block, not the whole stream. Regeneration runs the very same chunked loop, writing into the
 * caller's buffer instead of comparing, so what was verified is what is re-created.
 *
 * zlib level 0 (stored blocks) is never a recipe: deflate_stored's block sizes depend on the
 * caller's output buffer sizes, which a recipe cannot know, and stored data gains nothing from
 * unwrapping anyway. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <lz4hc.h>
#include <xxhash.h>
#include <zlib.h>

#include "unwrap_impl.h"

#define REGEN_CHUNK (64u << 10)
/* A stream that no recipe re-created makes the search narrower for the rest of the file: after
 * this many in a row only the recipe that last worked and the header's level class are tried. */
#define WIDE_SEARCH_FAILURES 3
/* The tries for one stream compress at most this many times its decoded bytes in all. */
#define SEARCH_BUDGET 12

uint32_t unwrap_lib_version_now(uint8_t lib)
{
	if (lib == UNWRAP_LIB_ZLIB) {
		unsigned a = 0, b = 0, c = 0;

		/* zlibVersion() is the library actually loaded, not the header compiled against. */
		sscanf(zlibVersion(), "%u.%u.%u", &a, &b, &c);
		return (a & 0xff) << 16 | (b & 0xff) << 8 | (c & 0xff);
	}
	if (lib == UNWRAP_LIB_LZ4) {
		unsigned v = (unsigned)LZ4_versionNumber(); /* major*10000 + minor*100 + patch */

		return (v / 10000) << 16 | (v / 100 % 100) << 8 | v % 100;
	}
	return 0;
}

/* ---- decoding ---- */

/* Inflates exactly `len` bytes of `stream` into exactly `raw_len` bytes of `out`. */
static int zlib_decode(const uint8_t *stream, size_t len, int window_bits, uint8_t *out,
                       size_t raw_len)
{
	z_stream zs = {0};
	int rc;

	if (len > UINT32_MAX || raw_len > UINT32_MAX)
		return -EIO;
	/* A zlib wrapper states its window in the header; 15 accepts every one. */
	if (inflateInit2(&zs, window_bits < 0 ? -15 : 15) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)stream;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)raw_len;
	rc = inflate(&zs, Z_FINISH);
	rc = rc == Z_STREAM_END && zs.avail_in == 0 && zs.avail_out == 0 ? 0 : -EIO;
	inflateEnd(&zs);
	return rc;
}

/* Inflates a stream whose decoded size is not known (gzip): *out is malloc'd. Stops with
 * -EFBIG past max_raw bytes. The stream must end exactly at `len`. */
static int zlib_decode_grow(const uint8_t *stream, size_t len, int window_bits, uint64_t max_raw,
                            uint8_t **out, size_t *out_len)
{
	z_stream zs = {0};
	uint8_t *buf = NULL;
	size_t cap = len * 4 + 4096, used = 0;
	int rc, zrc;

	*out = NULL;
	if (len > UINT32_MAX)
		return -EIO;
	if (inflateInit2(&zs, window_bits < 0 ? -15 : 15) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)stream;
	zs.avail_in = (uInt)len;
	for (;;) {
		if (used == cap || !buf) {
			uint8_t *nb;

			if (buf) {
				if (cap >= max_raw) {
					rc = -EFBIG;
					goto out;
				}
				cap = cap * 2 > max_raw ? (size_t)max_raw : cap * 2;
			}
			nb = realloc(buf, cap);
			if (!nb) {
				rc = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		zs.next_out = buf + used;
		zs.avail_out = (uInt)((cap - used) > UINT32_MAX ? UINT32_MAX : cap - used);
		zrc = inflate(&zs, Z_NO_FLUSH);
		used = (size_t)(zs.next_out - buf);
		if (zrc == Z_STREAM_END)
			break;
		if (zrc != Z_OK && !(zrc == Z_BUF_ERROR && used == cap)) {
			rc = -EIO;
			goto out;
		}
	}
	if (zs.avail_in != 0) {
		rc = -EIO;
		goto out;
	}
	*out = buf;
	*out_len = used;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	inflateEnd(&zs);
	return rc;
}

static int lz4_decode(const uint8_t *stream, size_t len, uint8_t *out, size_t raw_len)
{
	if (len > INT32_MAX || raw_len > INT32_MAX)
		return -EIO;
	return LZ4_decompress_safe((const char *)stream, (char *)out, (int)len, (int)raw_len) ==
	               (int)raw_len
	           ? 0
	           : -EIO;
}

/* Decompresses a stream piece's logical bytes into exactly `raw_len` bytes of `raw`. */
static int piece_decode(const struct unwrap_piece *piece, const uint8_t *logical, uint8_t *raw,
                        uint64_t raw_len)
{
	switch (piece->kind) {
	case UNWRAP_ZLIB:
		return zlib_decode(logical, piece->len, piece->recipe.window_bits, raw, raw_len);
	case UNWRAP_LZ4:
		return lz4_decode(logical, piece->len, raw, raw_len);
	default:
		return -EINVAL;
	}
}

int unwrap_piece_unwrap(const struct unwrap_piece *piece, const uint8_t *logical, uint8_t *out)
{
	uint8_t *raw;
	size_t n = 0;
	int rc;

	if (piece->kind == UNWRAP_VERBATIM) {
		memcpy(out, logical, piece->len);
		return 0;
	}
	if (piece->filter == UNWRAP_FILTER_NONE)
		return piece_decode(piece, logical, out, piece->unwrapped_len);
	if (piece->raw_len > SIZE_MAX ||
	    unwrap_filter_bound(piece->filter, piece->raw_len) < piece->unwrapped_len)
		return -EINVAL;
	raw = malloc(piece->raw_len ? piece->raw_len : 1);
	if (!raw)
		return -ENOMEM;
	rc = piece_decode(piece, logical, raw, piece->raw_len);
	if (!rc)
		rc = unwrap_filter_apply(piece->filter, raw, piece->raw_len, out, &n);
	/* The plan says how long the filtered bytes are: anything else is not this piece. */
	if (!rc && n != piece->unwrapped_len)
		rc = -EIO;
	free(raw);
	return rc;
}

/* ---- compressing with a recipe: compare (search) or write (regenerate) ---- */

/* Compresses `raw` with a zlib recipe. With `expect`, compares the output against the `len`
 * bytes of `expect` chunk by chunk and returns 0 only if it is exactly them (-ENOENT at the
 * first difference); with `out`, writes the output there and returns 0 only if it is exactly
 * `len` bytes. `scratch` holds REGEN_CHUNK bytes (compare mode). *consumed counts the input
 * bytes deflate took in (a wrong recipe usually stops early). */
static int zlib_run(const struct unwrap_recipe *r, const uint8_t *raw, size_t raw_len,
                    const uint8_t *expect, uint8_t *out, size_t len, uint8_t *scratch,
                    uint64_t *consumed)
{
	z_stream zs = {0};
	size_t done = 0;
	int rc = -ENOENT, zrc;

	if (raw_len > UINT32_MAX || r->level < 1 || r->level > 9)
		return -ENOENT;
	zrc = deflateInit2(&zs, r->level, Z_DEFLATED, r->window_bits, r->mem_level, r->strategy);
	if (zrc == Z_MEM_ERROR)
		return -ENOMEM;
	if (zrc != Z_OK)
		return -ENOENT;
	zs.next_in = (Bytef *)raw;
	zs.avail_in = (uInt)raw_len;
	for (;;) {
		/* The same chunk sequence in both modes, so the verified bytes are the re-created
		 * ones even if the library's output depended on output buffer sizes. */
		uint8_t *dst = out ? out + done : scratch;
		size_t room = out ? len - done : REGEN_CHUNK;

		if (room > REGEN_CHUNK)
			room = REGEN_CHUNK;
		if (room == 0) { /* `len` bytes out and not finished: too long */
			uint8_t probe;

			zs.next_out = &probe;
			zs.avail_out = 1;
			zrc = deflate(&zs, Z_FINISH);
			rc = zrc == Z_STREAM_END && zs.avail_out == 1 ? 0 : -ENOENT;
			break;
		}
		zs.next_out = dst;
		zs.avail_out = (uInt)room;
		zrc = deflate(&zs, Z_FINISH);
		size_t n = room - zs.avail_out;

		if (expect && (n > len - done || memcmp(dst, expect + done, n) != 0))
			break;
		done += n;
		if (zrc == Z_STREAM_END) {
			rc = done == len ? 0 : -ENOENT;
			break;
		}
		if (zrc != Z_OK && zrc != Z_BUF_ERROR)
			break;
	}
	*consumed += zs.total_in;
	deflateEnd(&zs);
	return rc;
}

/* Compresses `raw` with an lz4 recipe into `dst` (LZ4_compressBound(raw_len) bytes); returns the
 * compressed size, or 0. `state` is LZ4_sizeofStateHC() bytes (also big enough for the fast
 * compressor's state). */
static int lz4_run(const struct unwrap_recipe *r, const uint8_t *raw, size_t raw_len, uint8_t *dst,
                   void *state)
{
	int cap = LZ4_compressBound((int)raw_len);

	if (raw_len > LZ4_MAX_INPUT_SIZE)
		return 0;
	if (r->level == 0)
		return LZ4_compress_fast_extState(state, (const char *)raw, (char *)dst,
		                                  (int)raw_len, cap, 1);
	if (r->level > LZ4HC_CLEVEL_MAX)
		return 0;
	return LZ4_compress_HC_extStateHC(state, (const char *)raw, (char *)dst, (int)raw_len, cap,
	                                  r->level);
}

static void *lz4_state_new(void)
{
	size_t n = (size_t)LZ4_sizeofStateHC();

	if ((size_t)LZ4_sizeofState() > n)
		n = (size_t)LZ4_sizeofState();
	return malloc(n);
}

int unwrap_regenerate(const struct unwrap_piece *piece, const uint8_t *unwrapped, uint8_t *out)
{
	const uint8_t *raw = unwrapped;
	uint8_t *unfiltered = NULL;
	uint64_t consumed = 0, raw_len = piece->unwrapped_len;
	int rc;

	if (piece->kind == UNWRAP_VERBATIM) {
		memcpy(out, unwrapped, piece->len);
		return 0;
	}
	if (piece->filter != UNWRAP_FILTER_NONE) {
		if (piece->raw_len > SIZE_MAX)
			return -EIO;
		raw_len = piece->raw_len;
		unfiltered = malloc(raw_len ? raw_len : 1);
		if (!unfiltered)
			return -ENOMEM;
		rc = unwrap_filter_invert(piece->filter, unwrapped, piece->unwrapped_len,
		                          unfiltered, raw_len);
		if (rc)
			goto out;
		raw = unfiltered;
	}
	switch (piece->kind) {
	case UNWRAP_ZLIB:
		rc = zlib_run(&piece->recipe, raw, raw_len, NULL, out, piece->len, NULL, &consumed);
		if (rc == -ENOENT)
			rc = -EIO;
		break;
	case UNWRAP_LZ4: {
		void *state;
		uint8_t *dst;
		int n;

		if (raw_len > LZ4_MAX_INPUT_SIZE) {
			rc = -EIO;
			goto out;
		}
		state = lz4_state_new();
		dst = malloc((size_t)LZ4_compressBound((int)raw_len));
		if (!state || !dst) {
			free(state);
			free(dst);
			rc = -ENOMEM;
			goto out;
		}
		n = lz4_run(&piece->recipe, raw, raw_len, dst, state);
		rc = n > 0 && (uint64_t)n == piece->len ? 0 : -EIO;
		if (!rc)
			memcpy(out, dst, piece->len);
		free(state);
		free(dst);
		break;
	}
	default:
		rc = -EINVAL;
		goto out;
	}
	if (!rc && XXH64(out, piece->len, 0) != piece->xxh64)
		rc = -EIO;
out:
	free(unfiltered);
	return rc;
}

/* ---- the search ---- */

struct candidates {
	struct unwrap_recipe r[128];
	int n;
};

static void cand_add(struct candidates *c, const struct unwrap_recipe *r)
{
	for (int i = 0; i < c->n; i++)
		if (memcmp(&c->r[i], r, sizeof(*r)) == 0)
			return;
	if (c->n < (int)(sizeof(c->r) / sizeof(c->r[0])))
		c->r[c->n++] = *r;
}

/* Levels in the order to try them, from a hint of what wrote the stream: the zlib header's
 * FLEVEL (deflate writes 0 for levels < 2, 1 for 2-5, 2 for 6, 3 for 7-9) or gzip's XFL (2 for
 * level 9, 4 for level 1). ROOT writes level 1 by default, so it leads among the fast ones. */
static int level_order(int hint_class, uint8_t *levels)
{
	static const uint8_t cls[5][10] = {
	    {1}, {2, 4, 3, 5}, {6}, {9, 7, 8}, {1, 6, 9, 2, 4, 3, 5, 7, 8},
	};
	int n = 0;

	if (hint_class < 0 || hint_class > 4)
		hint_class = 4;
	for (int i = 0; i < 10 && cls[hint_class][i]; i++)
		levels[n++] = cls[hint_class][i];
	return n;
}

static void zlib_candidates(const uint8_t *stream, size_t len, uint8_t origin,
                            const struct unwrap_memory *m, int wide, struct candidates *c)
{
	struct unwrap_recipe r = {.lib = UNWRAP_LIB_ZLIB,
	                          .origin = origin,
	                          .lib_version = unwrap_lib_version_now(UNWRAP_LIB_ZLIB)};
	uint8_t levels[10];
	int hint = 4, nl, wbits = 15;

	if (m->have[UNWRAP_LIB_ZLIB] && m->last[UNWRAP_LIB_ZLIB].origin == origin) {
		r = m->last[UNWRAP_LIB_ZLIB];
		r.lib_version = unwrap_lib_version_now(UNWRAP_LIB_ZLIB);
		cand_add(c, &r);
		r.level = 0;
	}
	if (origin == UNWRAP_ORIGIN_GZIP) {
		wbits = -15;
		/* The gzip parser put the member's XFL level class here. */
		hint = m->gzip_class;
	} else if (len >= 2) {
		wbits = 8 + (stream[0] >> 4);
		if ((stream[0] & 0x0f) != 8 || wbits > 15 || ((stream[0] << 8) | stream[1]) % 31)
			return; /* not a zlib header: nothing will re-create it */
		hint = stream[1] >> 6;
	}
	nl = level_order(hint, levels);
	r.window_bits = (int8_t)wbits;
	r.mem_level = 8;
	r.strategy = Z_DEFAULT_STRATEGY;
	for (int i = 0; i < nl; i++) {
		r.level = levels[i];
		cand_add(c, &r);
	}
	if (!wide)
		return;
	/* Less common: other memLevels, then other strategies, then levels of other classes. */
	static const uint8_t mems[] = {9, 7, 6, 5, 4, 3, 2, 1};
	for (size_t k = 0; k < sizeof(mems); k++)
		for (int i = 0; i < nl; i++) {
			r.level = levels[i];
			r.mem_level = mems[k];
			cand_add(c, &r);
		}
	r.mem_level = 8;
	for (int s = Z_FILTERED; s <= Z_FIXED; s++)
		for (int i = 0; i < nl; i++) {
			r.level = levels[i];
			r.strategy = (uint8_t)s;
			cand_add(c, &r);
		}
	r.strategy = Z_DEFAULT_STRATEGY;
	nl = level_order(4, levels);
	for (int i = 0; i < nl; i++) {
		r.level = levels[i];
		cand_add(c, &r);
	}
}

static void lz4_candidates(uint8_t origin, const struct unwrap_memory *m, int wide,
                           struct candidates *c)
{
	/* ROOT uses LZ4_compress_default below level 4 and LZ4_compress_HC at its level above. */
	static const uint8_t order[] = {0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 11, 12};
	struct unwrap_recipe r = {.lib = UNWRAP_LIB_LZ4,
	                          .origin = origin,
	                          .lib_version = unwrap_lib_version_now(UNWRAP_LIB_LZ4)};

	if (m->have[UNWRAP_LIB_LZ4]) {
		r = m->last[UNWRAP_LIB_LZ4];
		r.origin = origin;
		r.lib_version = unwrap_lib_version_now(UNWRAP_LIB_LZ4);
		cand_add(c, &r);
	}
	for (size_t i = 0; i < (wide ? sizeof(order) : 3); i++) {
		r.level = order[i];
		cand_add(c, &r);
	}
}

int unwrap_recipe_find(const uint8_t *stream, size_t len, uint8_t lib, uint8_t origin,
                       uint64_t raw_len, uint64_t max_raw, struct unwrap_memory *memory,
                       struct unwrap_stats *stats, uint8_t **unwrapped, size_t *unwrapped_len,
                       struct unwrap_recipe *recipe)
{
	struct candidates *c = NULL;
	uint8_t *raw = NULL, *work = NULL;
	void *state = NULL;
	int wide = memory->failures[lib] < WIDE_SEARCH_FAILURES;
	int rc;

	if (lib != UNWRAP_LIB_ZLIB && lib != UNWRAP_LIB_LZ4)
		return -ENOENT;
	/* Decode. */
	if (raw_len) {
		if (raw_len > max_raw || raw_len > SIZE_MAX)
			return -ENOENT;
		raw = malloc(raw_len ? raw_len : 1);
		if (!raw)
			return -ENOMEM;
		rc = lib == UNWRAP_LIB_ZLIB
		         ? zlib_decode(stream, len, origin == UNWRAP_ORIGIN_GZIP ? -15 : 15, raw,
		                       raw_len)
		         : lz4_decode(stream, len, raw, raw_len);
		if (rc) {
			rc = -ENOENT;
			goto out;
		}
	} else {
		size_t n;

		if (lib != UNWRAP_LIB_ZLIB)
			return -ENOENT;
		rc = zlib_decode_grow(stream, len, origin == UNWRAP_ORIGIN_GZIP ? -15 : 15, max_raw,
		                      &raw, &n);
		if (rc == -ENOMEM)
			goto out;
		if (rc) {
			rc = -ENOENT;
			goto out;
		}
		raw_len = n;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		rc = -ENOMEM;
		goto out;
	}
	if (lib == UNWRAP_LIB_ZLIB) {
		zlib_candidates(stream, len, origin, memory, wide, c);
		work = malloc(REGEN_CHUNK);
	} else {
		lz4_candidates(origin, memory, wide, c);
		work = malloc((size_t)LZ4_compressBound((int)raw_len));
		state = lz4_state_new();
		if (!state) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if (!work) {
		rc = -ENOMEM;
		goto out;
	}
	rc = -ENOENT;
	/* A try that fails late (a stream with a flush point near its end) costs a whole
	 * compression: stop after about SEARCH_BUDGET of them. */
	uint64_t spent = stats->recipe_bytes, budget = (uint64_t)raw_len * SEARCH_BUDGET;

	for (int i = 0; i < c->n && rc == -ENOENT && stats->recipe_bytes - spent < budget; i++) {
		stats->recipe_tries++;
		if (lib == UNWRAP_LIB_ZLIB) {
			rc = zlib_run(&c->r[i], raw, raw_len, stream, NULL, len, work,
			              &stats->recipe_bytes);
		} else {
			int n = lz4_run(&c->r[i], raw, raw_len, work, state);

			stats->recipe_bytes += raw_len;
			rc = n > 0 && (size_t)n == len && memcmp(work, stream, len) == 0 ? 0
			                                                                 : -ENOENT;
		}
		if (rc == 0)
			*recipe = c->r[i];
	}
	if (rc == 0) {
		memory->last[lib] = *recipe;
		memory->have[lib] = 1;
		memory->failures[lib] = 0;
		*unwrapped = raw;
		*unwrapped_len = raw_len;
		raw = NULL;
	} else if (rc == -ENOENT) {
		memory->failures[lib]++;
	}
out:
	free(c);
	free(work);
	free(state);
	free(raw);
	return rc;
}

/* ---- canaries ---- */

/* A fixed input that looks like what gets compressed: words from a small vocabulary, numbers
 * and binary runs, from a fixed LCG, so matches of many lengths and distances occur. */
#define CANARY_LEN (16u << 10)

static void canary_input(uint8_t *buf)
{
	static const char *const words[] = {"event", "muon", "jet", "Zmumu", "TTree",  "px",
	                                    "py",    "pz",   "E",   "0.000", "branch", "\n"};
	uint32_t s = 0x12345678;
	size_t i = 0;

	while (i < CANARY_LEN) {
		s = s * 1103515245u + 12345u;
		uint32_t v = s >> 8;

		if (v % 5 == 0) { /* a little-endian float-ish binary run */
			for (int k = 0; k < 8 && i < CANARY_LEN; k++)
				buf[i++] = (uint8_t)(k < 4 ? v >> (8 * k) : 0x40u + (uint32_t)k);
		} else {
			const char *w = words[v % (sizeof(words) / sizeof(words[0]))];

			for (; *w && i < CANARY_LEN; w++)
				buf[i++] = (uint8_t)*w;
			if (i < CANARY_LEN)
				buf[i++] = ' ';
		}
	}
}

int unwrap_canary(uint8_t lib, uint64_t *hash, uint32_t *version)
{
	uint8_t *in = malloc(CANARY_LEN), *out = NULL;
	void *state = NULL;
	XXH64_state_t *h = XXH64_createState();
	int rc = 0;

	if (!in || !h) {
		rc = -ENOMEM;
		goto out;
	}
	canary_input(in);
	XXH64_reset(h, 0);
	if (lib == UNWRAP_LIB_ZLIB) {
		/* Every level with the common parameters, then each other parameter once. */
		struct unwrap_recipe rs[9 + 4 + 3 + 2];
		int n = 0;

		for (int l = 1; l <= 9; l++)
			rs[n++] = (struct unwrap_recipe){
			    .level = (uint8_t)l, .window_bits = 15, .mem_level = 8};
		for (int s = Z_FILTERED; s <= Z_FIXED; s++)
			rs[n++] = (struct unwrap_recipe){
			    .level = 6, .window_bits = 15, .mem_level = 8, .strategy = (uint8_t)s};
		rs[n++] = (struct unwrap_recipe){.level = 6, .window_bits = 15, .mem_level = 9};
		rs[n++] = (struct unwrap_recipe){.level = 6, .window_bits = 15, .mem_level = 1};
		rs[n++] = (struct unwrap_recipe){.level = 6, .window_bits = 10, .mem_level = 8};
		rs[n++] = (struct unwrap_recipe){.level = 9, .window_bits = -15, .mem_level = 8};
		rs[n++] = (struct unwrap_recipe){.level = 1, .window_bits = -15, .mem_level = 8};
		out = malloc(CANARY_LEN * 2);
		if (!out) {
			rc = -ENOMEM;
			goto out;
		}
		for (int i = 0; i < n; i++) {
			z_stream zs = {0};

			if (deflateInit2(&zs, rs[i].level, Z_DEFLATED, rs[i].window_bits,
			                 rs[i].mem_level, rs[i].strategy) != Z_OK) {
				rc = -ENOMEM;
				goto out;
			}
			zs.next_in = in;
			zs.avail_in = CANARY_LEN;
			zs.next_out = out;
			zs.avail_out = CANARY_LEN * 2;
			int zrc = deflate(&zs, Z_FINISH);
			size_t len = CANARY_LEN * 2 - zs.avail_out;

			deflateEnd(&zs);
			if (zrc != Z_STREAM_END) {
				rc = -EIO;
				goto out;
			}
			XXH64_update(h, out, len);
		}
	} else if (lib == UNWRAP_LIB_LZ4) {
		out = malloc((size_t)LZ4_compressBound(CANARY_LEN));
		state = lz4_state_new();
		if (!out || !state) {
			rc = -ENOMEM;
			goto out;
		}
		for (int l = 0; l <= LZ4HC_CLEVEL_MAX; l++) {
			struct unwrap_recipe r = {.lib = UNWRAP_LIB_LZ4, .level = (uint8_t)l};
			int len = lz4_run(&r, in, CANARY_LEN, out, state);

			if (len <= 0) {
				rc = -EIO;
				goto out;
			}
			XXH64_update(h, out, (size_t)len);
		}
	} else {
		rc = -EINVAL;
		goto out;
	}
	*hash = XXH64_digest(h);
	*version = unwrap_lib_version_now(lib);
out:
	XXH64_freeState(h);
	free(in);
	free(out);
	free(state);
	return rc;
}

int unwrap_canary_compare(uint8_t lib, uint32_t version, uint64_t hash, char *msg, size_t msg_len)
{
	uint64_t now_hash;
	uint32_t now;
	int rc = unwrap_canary(lib, &now_hash, &now);

	if (rc)
		return rc;
	/* Only behaviour counts: another version that compresses the canary identically is
	 * accepted (and every regenerated piece is still checked against its own xxh64). */
	if (now_hash == hash)
		return 0;
	if (msg && msg_len)
		snprintf(msg, msg_len,
		         "transformed files need %s %u.%u.%u; this program has %s %u.%u.%u, "
		         "which compresses differently",
		         unwrap_lib_name(lib), version >> 16, (version >> 8) & 0xff, version & 0xff,
		         unwrap_lib_name(lib), now >> 16, (now >> 8) & 0xff, now & 0xff);
	return -ENOTSUP;
}

int unwrap_canary_check(const struct unwrap_plan *p, char *msg, size_t msg_len)
{
	for (int lib = 1; lib < UNWRAP_LIB_COUNT; lib++) {
		int rc;

		if (!p->lib_version[lib])
			continue;
		rc = unwrap_canary_compare((uint8_t)lib, p->lib_version[lib], p->canary[lib], msg,
		                           msg_len);
		if (rc)
			return rc;
	}
	return 0;
}
