/* boa — the BOA coder on one chunk: bytes in, a self-describing compressed chunk out, and back.
 *
 * Owns: the chunk format (below), the level numbers, and the choice to store a chunk raw when
 * coding does not shrink it. Every chunk is independent: it starts from empty models.
 * Does not own: prediction (boa_predict.h and the mix_* modules), the Mamba (boa_model.h), the
 * file container of the `boa` command (boa_cli.c), records and extents (index/).
 * Chunk format (all integers little-endian):
 *   u8     version << 4 | level   version 5 (1 to 4 are still read); level 0 = stored raw,
 *                                 1..9 coded
 *   varint raw length             LEB128, must equal the raw_len the decoder is given
 *   u32    model id               only at levels that use the Mamba (boa_model_id)
 *   u32    xxh32 of the raw bytes (seed 0)
 *   payload                       raw bytes (level 0) or the arithmetic coder's bytes
 * Levels (version 5; a chunk's level means what it meant in its version: boa_predict.c keeps the
 * five tables): 1..4 mix context models only, 1 fastest, 4 smallest; 5..9 add the Mamba byte
 * model (for data that stays cold: frozen). BOA_LEVEL_DEFAULT (2) is within 1 % of version-1
 * level 1 on the HEP samples in 128 KiB blocks (examples/boa-frontier.md).
 * Threads: a boa_ctx is per thread (it holds the predictor, reused across calls so that a call
 * allocates nothing once the level and model stay the same); models may be shared.
 * Cancel: boa_ctx_set_cancel lets another thread stop a long encode or decode (unmount).
 * Errors: 0, or a negative errno: -EINVAL (bad level or arguments), -ENOSPC (`cap` too small;
 * boa_bound is always enough), -ENOTSUP (the level needs the Mamba but no model was given or
 * this build has none), -ENOENT (decode: the chunk names a model other than the one given), -EIO
 * (decode: a corrupt or truncated chunk, or a length or checksum mismatch; never wrong data),
 * -ECANCELED (the context's cancel flag was set; `out` holds nothing usable), -ENOMEM. */
#ifndef BOAFS_BOA_H
#define BOAFS_BOA_H

#include <stddef.h>
#include <stdint.h>

#define BOA_CHUNK_VERSION 5 /* the chunk format boa_encode writes */
#define BOA_LEVEL_MIN     1
#define BOA_LEVEL_MAX     9
#define BOA_LEVEL_DEFAULT 2
#define BOA_CHUNK_MAX     ((size_t)1 << 30) /* largest chunk, bytes */

struct boa_model;
struct boa_ctx;

/* The most bytes boa_encode can write for `len` input bytes. */
size_t boa_bound(size_t len);
/* 1 if `level` uses the Mamba (needs a model), 0 if not, -EINVAL if no such level. */
int boa_level_uses_model(int level);

int boa_ctx_new(struct boa_ctx **out);
void boa_ctx_free(struct boa_ctx *c);
int boa_ctx_encode(struct boa_ctx *c, const struct boa_model *m, int level, const void *in,
                   size_t len, void *out, size_t cap, size_t *out_len);
int boa_ctx_decode(struct boa_ctx *c, const struct boa_model *m, const void *in, size_t in_len,
                   void *out, size_t raw_len);
/* Resets `c` now, ahead of its next decode, for a chunk of `len` bytes at `level` (of the chunk
 * format written now; 0: the level and length of the last chunk `c` decoded), so that a decode
 * of such a chunk starts without the reset (clearing megabytes of tables; a third of a
 * millisecond at level 2 for 128 KiB, more on first use): do it while nobody waits. Any other
 * chunk, or any call on `c` but boa_ctx_decode, simply resets again. -ENOTSUP for a level with
 * the Mamba, or with level 0 when `c` decoded nothing since; -ENOMEM. */
int boa_ctx_prepare(struct boa_ctx *c, int level, size_t len);
/* From now on, boa_ctx_encode and boa_ctx_decode on `c` read *flag (atomically, every
 * BOA_CANCEL_STEP bytes) and return -ECANCELED once it is non-zero; NULL turns that off. The
 * flag belongs to the caller and must outlive its use by `c`. */
#define BOA_CANCEL_STEP 256
void boa_ctx_set_cancel(struct boa_ctx *c, const int *flag);

/* One-shot forms: a context for the call (allocation per call; use boa_ctx_* in loops). `m` may
 * be NULL at level 1. */
int boa_encode(const struct boa_model *m, int level, const void *in, size_t len, void *out,
               size_t cap, size_t *out_len);
int boa_decode(const struct boa_model *m, const void *in, size_t in_len, void *out, size_t raw_len);

/* Reads a chunk's header: its level (0 = stored), raw length and model id (0 when the level uses
 * no model), so a caller can find the model to decode it with. -EIO if malformed. */
int boa_chunk_info(const void *in, size_t in_len, int *level, uint64_t *raw_len,
                   uint32_t *model_id);

#endif
