/* boa_model — the Mamba byte model: model files (.boam), and inference one byte at a time.
 *
 * Owns: the .boam format (magic, version, hyper-parameters, float32 weights, xxh64), loading
 * and validating it, the per-stream recurrent state (conv windows, SSM states), and the forward
 * pass that turns the bytes seen so far into a distribution over the next byte.
 * Does not own: mixing that distribution with other predictors, or coding (boa.h).
 * Determinism: boa_stream_predict gives bit-identical output for the same model and bytes with
 * any compiler, flags or CPU (float32, no contraction, fixed reduction order, own exp/log), and
 * the scalar and SIMD paths agree exactly; the output is integer.
 * boa_streams_* step many streams at once (the fast path for independent 8 KiB streams).
 * Threads: a model is read-only once loaded and may be shared; a stream is per thread.
 * Errors: 0, or a negative errno; a truncated, corrupted or unknown-version model is -EINVAL
 * with a message naming what is wrong written to `err` (if not NULL). */
#ifndef BOAFS_BOA_MODEL_H
#define BOAFS_BOA_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define BOA_PROB_BITS 16 /* predicted frequencies sum to 1 << BOA_PROB_BITS, each >= 1 */

struct boa_model;
struct boa_stream;

int boa_model_load(const void *bytes, size_t len, struct boa_model **out, char *err, size_t errlen);
int boa_model_load_file(const char *path, struct boa_model **out, char *err, size_t errlen);
void boa_model_free(struct boa_model *m);
/* The model that ships with boafs, built into the binary (codec/models/default.boam). */
int boa_model_load_default(struct boa_model **out);
/* A built-in model by name: "default" (as above) or "fast" (smaller, for the fast levels);
 * -ENOENT for another name. */
int boa_model_load_builtin(const char *name, struct boa_model **out);
/* The .boam file of a built-in model, for storing it (the archive's model registry). */
int boa_model_builtin_bytes(const char *name, const void **bytes, size_t *len);
/* A 32-bit id derived from the model file's checksum: what records and extents name. */
uint32_t boa_model_id(const struct boa_model *m);
/* Hyper-parameters, for listings. */
void boa_model_shape(const struct boa_model *m, int *dim, int *layers, size_t *params);

int boa_stream_new(const struct boa_model *m, struct boa_stream **out);
void boa_stream_free(struct boa_stream *s);
/* Back to the state before the first byte of a chunk. */
void boa_stream_reset(struct boa_stream *s);
/* The distribution of the next byte: 256 frequencies, each >= 1, summing to
 * 1 << BOA_PROB_BITS. */
void boa_stream_predict(struct boa_stream *s, uint32_t freq[256]);
/* Feeds the byte that actually came. */
void boa_stream_update(struct boa_stream *s, uint8_t byte);

/* Batched, for many independent streams: n distinct streams, all made from the same model
 * (else -EINVAL and nothing done). The same as boa_stream_predict(s[j], freq[j]) and
 * boa_stream_update(s[j], bytes[j]) for every j, with bit-identical results, but the matrix
 * products of all n are computed together so each weight is read once per batch. */
int boa_streams_predict(struct boa_stream *const *s, int n, uint32_t (*freq)[256]);
int boa_streams_update(struct boa_stream *const *s, int n, const uint8_t *bytes);

#endif
