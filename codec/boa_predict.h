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
struct mix_dec;
struct mix_enc;

/* Mixer weight-set selectors (what picks a first-layer mixer's weights for a bit). */
enum {
	BP_SEL_C0,     /* the bits of the byte so far */
	BP_SEL_MATCH,  /* match length bucket, bit position */
	BP_SEL_HITS,   /* how many contexts were seen before, bit position */
	BP_SEL_COLUMN, /* column within the record, bit position */
	BP_SEL_MAMBA,  /* the Mamba's confidence, bit position */
	BP_SEL_C1,     /* the last byte's top 3 bits and the bits of this byte so far */
	BP_SEL_KINDS,
};

#define BP_MAX_MIXERS 5

/* What the two APMs of a level with two refine, and how they are weighed. */
enum {
	BP_APM2_C0,    /* the bits of the byte so far, and order 1; mixer 1 : 1 : 2 (formats 1-2) */
	BP_APM2_MATCH, /* the match state with the bits so far, and order 1; 2 : 3 : 3 (format 3) */
	BP_APM2_MATCH_C1HI, /* as BP_APM2_MATCH, but the second APM has the last byte's top five
	                     * bits, not all eight: 540 KB of rows instead of 4.3 MB (format 4) */
};

struct bp_level {
	int mamba;  /* uses the Mamba byte model */
	int mixers; /* first-layer mixers (1..5); with more than one, a second layer mixes them */
	int apms;   /* refinement stages after mixing (0..3) */
	int lr_shift;
	struct mix_cm_params cm;
	uint8_t sel[BP_MAX_MIXERS]; /* BP_SEL_* of each first-layer mixer */
	int rate_min;               /* the mixers' learning rate falls from 64 to this (16 = 1x) */
	int apm2;                   /* BP_APM2_*, with apms == 2 */
	int w16; /* 16-bit mixer weights (mix_layers16), with the three selectors C1, MATCH,
	          * COLUMN and no Mamba */
};

/* Format `version` (1 to 5, boa.h)'s level `level`; NULL unless 1 <= level <= 9. */
const struct bp_level *bp_level_get(int version, int level);

struct bp;

int bp_new(const struct bp_level *lv, const struct boa_model *m, struct bp **out);
void bp_free(struct bp *p);
const struct bp_level *bp_params(const struct bp *p);
const struct boa_model *bp_model(const struct bp *p);
/* Starts a chunk of `len` bytes whose history is read from `buf` as it is coded. */
void bp_reset(struct bp *p, const uint8_t *buf, size_t len);
/* After bp_reset and before any coding: the history is read from `buf` instead (a reset done
 * ahead, before the caller had its buffer); nothing else changes. */
void bp_rebind(struct bp *p, const uint8_t *buf);
/* P(next bit is 1), 16-bit, in 32..65503. */
uint32_t bp_predict(struct bp *p);
/* Learns the coded bit; at a byte end buf[pos] must already hold the byte. */
void bp_update(struct bp *p, int bit);
/* bp_predict, the coder and bp_update over the eight bits of a byte (the same bits, faster):
 * decodes the next byte into `out`, its place in the chunk's buffer, or encodes `byte`. */
void bp_decode_byte(struct bp *p, struct mix_dec *d, uint8_t *out);
void bp_encode_byte(struct bp *p, struct mix_enc *e, int byte);

#endif
