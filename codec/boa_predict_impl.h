/* boa_predict_impl — the predictor's state and its per-bit code, shared by boa_predict.c and
 * boa_predict_avx2.c (level 2 of format 5 compiled for AVX2, its mixing kernels inlined).
 * Internal to those two files: everything here is static inline, and compiled in each with its
 * own instruction set, so the same source gives the same integers in both. */
#ifndef BOAFS_BOA_PREDICT_IMPL_H
#define BOAFS_BOA_PREDICT_IMPL_H

#include <stdint.h>

#include "boa_model.h"
#include "boa_predict.h"
#include "mix_ac.h"
#include "mix_cm.h"
#include "mix_mixer.h"

/* How bp_predict and bp_update are compiled for a level (bp_new picks it). */
enum {
	BP_KIND_ANY,      /* any level: the tests on the level at run time */
	BP_KIND_A1,       /* levels 1-4 of formats 2-5 (three mixers C1, MATCH, COLUMN, no Mamba)
	                   * with one APM, */
	BP_KIND_A2,       /* two APMs (BP_APM2_C0), */
	BP_KIND_A2_MATCH, /* two APMs (BP_APM2_MATCH), */
	BP_KIND_A2_C1HI,  /* two APMs (BP_APM2_MATCH_C1HI), */
	BP_KIND_A2_W16,   /* two APMs (BP_APM2_MATCH_C1HI) and 16-bit weights, */
	BP_KIND_A3,       /* three APMs */
};

struct bp {
	const struct bp_level *lv;
	const struct boa_model *model;
	struct boa_stream *stream;
	struct mix_cm *cm;
	struct mix_mixer mixer[BP_MAX_MIXERS];
	struct mix_mixer final;
	struct mix_apm apm[3];
	struct mix_apm mamba_apm;
	struct mix_layers16 l16; /* instead of mixer[] and final, with lv->w16 */
	int nmixers;
	int kind;                                               /* BP_KIND_* */
	int32_t x[MIX_MAX_INPUTS] __attribute__((aligned(32))); /* zero past nx */
	int32_t x2[8] __attribute__((aligned(32)));             /* zero past nmixers + 1 */
	int nx;
	int rate;
	int pr; /* 12-bit mixer output */
	/* Mamba: subtree sums of the next-byte frequencies; leaves at 256 + byte */
	uint32_t tree[512];
	int mamba_st;
};

/* How level 2 of format 5 reaches its mixing kernels: through mix_layers16's pointers, or
 * inlined where the includer names them (boa_predict_avx2.c). */
#ifndef BP_L16_MIX
#define BP_L16_MIX   mix_layers16_mix
#define BP_L16_TRAIN mix_layers16_train
#endif

/* The Mamba's next-byte distribution, after a byte (boa_predict.c). */
void bp_mamba_next(struct bp *p);
/* bp_decode_byte and bp_encode_byte of BP_KIND_A2_W16 with mix_layers16's AVX2 kernels inlined
 * (boa_predict_avx2.c; only where l16.avx2). */
void bp_decode_byte_l16_avx2(struct bp *p, struct mix_dec *d, uint8_t *out);
void bp_encode_byte_l16_avx2(struct bp *p, struct mix_enc *e, int byte);

/* The weight set of a mixer of selector `kind`. Inlined: called 3 or 4 times a bit, and with a
 * constant kind the switch goes away. */
static inline __attribute__((always_inline)) int select_by(const struct bp *p, int kind)
{
	const struct mix_cm *cm = p->cm;
	int bitpos = cm->bitpos;

	switch (kind) {
	case BP_SEL_C0:
		return (int)cm->c0;
	case BP_SEL_C1:
		return (int)((cm->c4 & 0xe0) << 3 | cm->c0);
	case BP_SEL_MATCH:
		return cm->match_lb * 8 + bitpos;
	case BP_SEL_HITS: { /* how many order-n contexts were seen before, and whether other kinds
		               were */
		int others = cm->hits - cm->order_hits;

		return (cm->order_hits * 3 + (others > 2 ? 2 : others > 0)) * 8 + bitpos;
	}
	case BP_SEL_COLUMN: {
		uint32_t col = cm->stride ? cm->rec_col + 1 : 0;

		return (int)((col > 15 ? 15 : col) * 8 + (uint32_t)bitpos);
	}
	default:
		return ((p->mamba_st + 2048) >> 8) * 8 + bitpos;
	}
}

static inline __attribute__((always_inline)) int mixer_select(const struct bp *p, int i)
{
	return select_by(p, p->lv->sel[i]);
}

/* The match state for an APM: 0 without a match, else the length bucket and the predicted
 * bit (2..63). */
static inline uint32_t match_ctx(const struct mix_cm *cm)
{
	return cm->match_slot ? (uint32_t)(cm->match_lb * 2 + cm->match_bit) : 0;
}

/* bp_predict's body, inlined once per kind of level: with `fast` (levels 1-4 of formats 2-5:
 * three mixers with constant selectors, no Mamba), constant `apms`, `apm2` and `w16` the tests
 * on the level fold. */
static inline __attribute__((always_inline)) uint32_t predict(struct bp *p, int fast, int apms,
                                                              int apm2, int w16)
{
	struct mix_cm *cm = p->cm;
	int n = 0, pr, s;
	uint32_t p16;

	p->x[n++] = 256;
	mix_cm_predict(cm, p->x + n);
	n += cm->ninputs;
	if (!fast && p->lv->mamba) {
		uint32_t num = p->tree[2 * cm->c0 + 1], den = p->tree[cm->c0];
		uint32_t q = den ? (uint32_t)(((uint64_t)num * 4096 + den / 2) / den) : 2048;

		q = q < 1 ? 1 : q > 4095 ? 4095 : q;
		p->mamba_st = mix_stretch((int)q);
		p->x[n++] = p->mamba_st;
		/* the Mamba's probability as this chunk has found it to be, by order-1 context */
		p->x[n++] = mix_stretch(
		    mix_apm_refine(&p->mamba_apm, (int)q, (cm->c4 & 255) << 8 | cm->c0) >> 4);
	}
	if (!fast && p->nmixers == 1) {
		pr = mix_mixer_mix(&p->mixer[0], p->x, mixer_select(p, 0));
	} else {
		int fset =
		    (cm->hits > 15 ? 15 : cm->hits) << 4 | (cm->match_len ? 8 : 0) | cm->bitpos;

		if (fast) { /* both layers in one call */
			int sets[3] = {select_by(p, BP_SEL_C1), select_by(p, BP_SEL_MATCH),
			               select_by(p, BP_SEL_COLUMN)};

			if (w16) { /* s and pr from the stretched output, side by side */
				int d = BP_L16_MIX(&p->l16, p->x, sets, fset);

				p->pr = pr = mix_squash_tab[d + 2048]; /* d is in range */
				s = mix_stretch_squash(d) + 2048;
				goto refine;
			}
			pr = mix_mixers3_layers_mix(p->mixer, &p->final, p->x, sets, fset, p->x2);
		} else if (p->nmixers == 3) {
			int sets[3] = {mixer_select(p, 0), mixer_select(p, 1), mixer_select(p, 2)};

			pr = mix_mixers3_layers_mix(p->mixer, &p->final, p->x, sets, fset, p->x2);
		} else {
			for (int i = 0; i < p->nmixers; i++) {
				mix_mixer_mix(&p->mixer[i], p->x, mixer_select(p, i));
				p->x2[i] = p->mixer[i].dot;
			}
			p->x2[p->nmixers] = 256;
			pr = mix_mixer_mix(&p->final, p->x2, fset);
		}
	}
	p->pr = pr;
	s = mix_stretch(pr) + 2048; /* the APMs' input, 1..4095 */
refine:
	switch (apms) {
	case 0:
		p16 = (uint32_t)pr * 16;
		break;
	case 1:
		p16 = ((uint32_t)pr * 16 +
		       3 * (uint32_t)mix_apm_refine_stretched(&p->apm[0], s, cm->c0)) /
		      4;
		break;
	case 2:
		if (apm2 != BP_APM2_C0) {
			uint32_t c1 =
			    apm2 == BP_APM2_MATCH_C1HI ? (cm->c4 & 255) >> 3 : cm->c4 & 255;
			uint32_t a0 = (uint32_t)mix_apm_refine_stretched(
			    &p->apm[0], s, match_ctx(cm) << 8 | cm->c0);
			uint32_t a1 =
			    (uint32_t)mix_apm_refine_stretched(&p->apm[1], s, c1 << 8 | cm->c0);

			p16 = ((uint32_t)pr * 32 + 3 * a0 + 3 * a1) / 8;
			break;
		}
		p16 =
		    ((uint32_t)pr * 16 + (uint32_t)mix_apm_refine_stretched(&p->apm[0], s, cm->c0) +
		     2 * (uint32_t)mix_apm_refine_stretched(&p->apm[1], s,
		                                            (cm->c4 & 255) << 8 | cm->c0)) /
		    4;
		break;
	default: {
		uint32_t mctx = match_ctx(cm);

		uint32_t col = cm->stride ? (cm->rec_col > 14 ? 15 : cm->rec_col + 1) : 0;
		uint32_t a0 = (uint32_t)mix_apm_refine_stretched(&p->apm[0], s, col << 8 | cm->c0);
		uint32_t a1 =
		    (uint32_t)mix_apm_refine_stretched(&p->apm[1], s, (cm->c4 & 255) << 8 | cm->c0);
		uint32_t a2 = (uint32_t)mix_apm_refine_stretched(&p->apm[2], s, mctx << 8 | cm->c0);

		p16 = ((uint32_t)pr * 16 + a0 + 3 * a1 + 3 * a2) / 8;
		break;
	}
	}
	if (p16 < 32)
		p16 = 32;
	if (p16 > 65503)
		p16 = 65503;
	return p16;
}

/* Levels 1-4, once mix_cm_update has moved to the next bit: asks the cache for what that bit's
 * mixing will read and its context already names, so the misses overlap with the updates below:
 * the order-1 APM's row (4.3 MB of rows, a new one every bit) and the weight set of the mixer
 * chosen by the last byte's top bits and this byte's bits (196 KB at 24 inputs). A hint only: no
 * coded byte depends on it. */
static inline __attribute__((always_inline)) void prefetch_next(const struct bp *p, int apms,
                                                                int apm2, int w16)
{
	const struct mix_cm *cm = p->cm;
	uint32_t c0 = cm->c0, c1 = cm->c4 & 255;
	const uint16_t *row;

	if (apms >= 2) {
		uint32_t ctx = apm2 == BP_APM2_MATCH_C1HI ? c1 >> 3 << 8 | c0 : c1 << 8 | c0;

		row = p->apm[1].t + (size_t)ctx * 33;

		__builtin_prefetch(row);
		__builtin_prefetch(row + 32);
	}
	if (apms == 2 && apm2 != BP_APM2_C0) { /* the match state as predict finds it */
		uint32_t mctx = 0;

		if (cm->match_len) {
			int expect = (cm->match_byte | 256) >> (7 - cm->bitpos);

			if ((uint32_t)(expect >> 1) == c0)
				mctx = (uint32_t)(cm->match_lb_byte * 2 + (expect & 1));
		}
		row = p->apm[0].t + (size_t)(mctx << 8 | c0) * 33;
		__builtin_prefetch(row);
		__builtin_prefetch(row + 32);
	}
	if (w16) { /* one line */
		__builtin_prefetch(p->l16.weights[0] +
		                   (size_t)((c1 & 0xe0) << 3 | c0) * MIX16_INPUTS);
	} else if (p->mixer[0].stride == 24) {
		const int32_t *w = p->mixer[0].weights + (size_t)((c1 & 0xe0) << 3 | c0) * 24;

		__builtin_prefetch(w);
		__builtin_prefetch(w + 23);
	}
}

static inline __attribute__((always_inline)) void update(struct bp *p, int bit, int fast, int apms,
                                                         int apm2, int w16)
{
	struct mix_cm *cm = p->cm;

	/* first: at a byte end it asks for the next byte's hashed-table lines, and the work below
	 * (which does not read cm) then hides part of those misses */
	mix_cm_update(cm, bit);
	if (fast)
		prefetch_next(p, apms, apm2, w16);
	if (w16) {
		BP_L16_TRAIN(&p->l16, bit, p->rate);
	} else if (fast || p->nmixers == 3) {
		mix_mixers3_layers_update(p->mixer, &p->final, p->x, p->x2, bit, p->rate);
	} else {
		for (int i = 0; i < p->nmixers; i++)
			mix_mixer_update(&p->mixer[i], p->x, bit, p->rate);
		if (p->nmixers > 1)
			mix_mixer_update(&p->final, p->x2, bit, p->rate);
	}
	switch (apms) { /* unrolled: 1 to 3 APMs, each on its own table */
	case 3:
		mix_apm_update(&p->apm[2], bit);
		/* fall through */
	case 2:
		mix_apm_update(&p->apm[1], bit);
		/* fall through */
	case 1:
		mix_apm_update(&p->apm[0], bit);
		break;
	default:
		break;
	}
	if (!fast && p->lv->mamba)
		mix_apm_update(&p->mamba_apm, bit);
	if (cm->bitpos == 0) {
		if (p->rate > p->lv->rate_min && (cm->pos & 63) == 0)
			p->rate--;
		if (!fast && p->stream) {
			boa_stream_update(p->stream, (uint8_t)(cm->c4 & 255));
			bp_mamba_next(p);
		}
	}
}

/* A byte's eight bits through predict, the coder and update, inlined once per kind of level as
 * bp_predict and bp_update are: the kind is chosen once a byte instead of twice a bit, no call
 * per bit, and the coder's state stays in registers. The same predictions, so the same bytes. */
static inline __attribute__((always_inline)) void
decode_byte(struct bp *p, struct mix_dec *dp, uint8_t *out, int fast, int apms, int apm2, int w16)
{
	struct mix_dec d = *dp;
	int byte = 1;

	for (int j = 0; j < 8; j++) {
		int bit = mix_dec_bit(&d, predict(p, fast, apms, apm2, w16));

		byte = byte << 1 | bit;
		if (j == 7)
			*out = (uint8_t)byte; /* update reads it at the byte end */
		update(p, bit, fast, apms, apm2, w16);
	}
	*dp = d;
}

static inline __attribute__((always_inline)) void
encode_byte(struct bp *p, struct mix_enc *ep, int byte, int fast, int apms, int apm2, int w16)
{
	struct mix_enc e = *ep;

	for (int j = 7; j >= 0; j--) {
		int bit = (byte >> j) & 1;

		mix_enc_bit(&e, bit, predict(p, fast, apms, apm2, w16));
		update(p, bit, fast, apms, apm2, w16);
	}
	*ep = e;
}

#endif
