/* boa_predict — the per-bit predictor of the BOA coder: context models, match and record models
 * and (at levels that use it) the Mamba byte model, mixed and refined into one probability.
 *
 * Owns: the level table (which predictors, how big, how many mixers and APMs per level), turning
 * the Mamba's next-byte distribution into P(next bit | bits of the byte so far), the two-layer
 * gated mixing and the APM chain.
 * Does not own: chunk format and coding (boa.h), the predictors' internals (mix_cm.h,
 * mix_mixer.h, boa_model.h).
 * Memory: all allocated in bp_new, sized by the level; nothing per byte.
 * Threads: one predictor per thread; the model it reads may be shared.
 * Errors: bp_new returns 0, -EINVAL (bad level), -ENOTSUP (the level needs the Mamba and this
 * build has none, or no model was given), -ENOMEM. */
#ifndef BOAFS_BOA_PREDICT_H
#define BOAFS_BOA_PREDICT_H

#include <stddef.h>
#include <stdint.h>

#include "mix_cm.h"

struct boa_model;

struct bp_level {
	int mamba;  /* uses the Mamba byte model */
	int mixers; /* first-layer mixers (1..5); with more than one, a second layer mixes them */
	int apms;   /* refinement stages after mixing (0..3) */
	int lr_shift;
	struct mix_cm_params cm;
};

/* NULL unless 1 <= level <= 9. */
const struct bp_level *bp_level_get(int level);

struct bp;

int bp_new(int level, const struct boa_model *m, struct bp **out);
void bp_free(struct bp *p);
int bp_level(const struct bp *p);
const struct boa_model *bp_model(const struct bp *p);
/* Starts a chunk of `len` bytes whose history is read from `buf` as it is coded. */
void bp_reset(struct bp *p, const uint8_t *buf, size_t len);
/* P(next bit is 1), 16-bit, in 32..65503. */
uint32_t bp_predict(struct bp *p);
/* Learns the coded bit; at a byte end buf[pos] must already hold the byte. */
void bp_update(struct bp *p, int bit);

#endif
