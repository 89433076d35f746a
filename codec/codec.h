/* codec — the codec registry: one filesystem block in, one stored payload out, and back, for
 * every codec id a record or an extent can name.
 *
 * Owns: the codec ids written in records and extents, and their names; the one dispatch from an
 * id to its coder (codec_encode, codec_decode); the choice at write time between the fast codec
 * and raw (raw when compression saves less than 1/8 of the block, as ZFS does); the per-thread
 * zstd contexts and the bounded set of BOA coder contexts that all threads share.
 * Does not own: the BOA mixing coder itself (boa.h), models and where they are kept (boa_model.h,
 * fs/fs_model.h), where payloads are stored (index/seg.h).
 * Adding a codec (an unwrapped stream, say): a new id below, and its encode and decode in the
 * table of codec.c; callers need no change.
 * Threads: one struct codec per archive, used by any number of threads at once. A call that
 * needs a BOA context waits while all codec_new allowed are in use.
 * Errors: 0, or a negative errno; a payload that does not decode to exactly raw_len bytes, or an
 * unknown codec id, is -EIO; a model a payload needs that the caller did not give is -ENOENT or
 * -ENOTSUP (boa.h); -ENOMEM. */
#ifndef BOAFS_CODEC_H
#define BOAFS_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum codec_id {
	CODEC_RAW = 0,
	CODEC_ZSTD = 1,
	CODEC_BOA = 2,
	CODEC_COUNT /* ids below this one exist */
};

struct boa_ctx;
struct boa_model;
struct codec;

/* `zstd_level` for codec_encode_fast and CODEC_ZSTD; at most `boa_contexts` BOA coder contexts
 * (megabytes each) exist at once. */
int codec_new(int zstd_level, size_t boa_contexts, struct codec **out);
void codec_free(struct codec *c);
const char *codec_name(uint8_t codec);
/* 1 if a payload of `codec` is decoded with the model its extent names, else 0. */
int codec_uses_model(uint8_t codec);
/* 1 for the codecs codec_encode_fast writes (raw, zstd): blocks still as first written, which
 * the background pool may recompress; else 0. */
int codec_is_fast(uint8_t codec);

/* What a coder needs besides the bytes. */
struct codec_args {
	const struct boa_model
	    *model;          /* the model the payload names, or to encode with; NULL: none */
	int level;           /* encoding: the coder's level (BOA levels, boa.h; for zstd, its
	                      * level, 0 = the registry's zstd_level) */
	struct boa_ctx *boa; /* a BOA context the caller owns; NULL: one from the shared set */
};

/* The most bytes codec_encode_fast writes for `len` input bytes. */
size_t codec_bound(size_t len);
/* Encodes `raw` with zstd, or keeps it raw when zstd does not save 1/8. `out` has room for
 * codec_bound(len) bytes; returns 0 with *codec and *out_len set. */
int codec_encode_fast(struct codec *c, const void *raw, size_t len, void *out, size_t *out_len,
                      uint8_t *codec);
/* Encodes `raw` with `codec` into `out` (room for `cap` bytes: boa_bound or codec_bound). */
int codec_encode(struct codec *c, uint8_t codec, const struct codec_args *a, const void *raw,
                 size_t len, void *out, size_t cap, size_t *out_len);
/* Work for a thread with nobody waiting on it (a reader whose reply is sent): resets one BOA
 * context used since its last reset for a block like the last it decoded, so that the next
 * decode of such a block starts at once (boa_ctx_prepare). Cheap when there is nothing to do. */
void codec_boa_idle(struct codec *c);
/* Makes BOA contexts ready for a block of `len` bytes at `level` until `count` are (within the
 * limit codec_new set): a mount whose archive holds BOA blocks, so that its first reads find
 * them. 0, or a negative errno (-ENOTSUP for a level with the Mamba). */
int codec_boa_warm(struct codec *c, int level, size_t len, size_t count);
/* Decodes a payload of `codec` into exactly raw_len bytes of `raw`. `a` may be NULL when the
 * codec uses no model. */
int codec_decode(struct codec *c, uint8_t codec, const struct codec_args *a, const void *payload,
                 size_t payload_len, void *raw, size_t raw_len);

#endif
