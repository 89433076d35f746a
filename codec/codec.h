/* codec — one filesystem block in, one stored payload out, and back.
 *
 * Owns: the codec ids written in records and extents, and the choice between them at write time
 * (the fast codec, or raw when compression saves less than 1/8 of the block, as ZFS does).
 * Does not own: the BOA mixing coder itself (boa.h), where payloads are stored (index/seg.h).
 * Threads: every call is independent; a struct codec_ctx is per thread.
 * Errors: 0, or a negative errno; a payload that does not decode to exactly raw_len bytes is
 * -EIO. */
#ifndef BOAFS_CODEC_H
#define BOAFS_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum codec_id {
	CODEC_RAW = 0,
	CODEC_ZSTD = 1,
	CODEC_BOA = 2,
};

struct codec_ctx;

int codec_ctx_new(int zstd_level, struct codec_ctx **out);
void codec_ctx_free(struct codec_ctx *c);
const char *codec_name(uint8_t codec);

/* Encodes `raw` with zstd, or keeps it raw when zstd does not save 1/8. `out` has room for
 * codec_bound(len) bytes; returns 0 with *codec and *out_len set. */
size_t codec_bound(size_t len);
int codec_encode_fast(struct codec_ctx *c, const void *raw, size_t len, void *out,
		      size_t *out_len, uint8_t *codec);
/* Decodes a payload of `codec` into exactly raw_len bytes of `raw`. */
int codec_decode(struct codec_ctx *c, uint8_t codec, const void *payload, size_t payload_len,
		 void *raw, size_t raw_len);

#endif
