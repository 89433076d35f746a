#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "boa_model.h"
#include "boa_predict.h"
#include "mix_ac.h"
#include "mix_mixer.h"

/* Weight sets of a first-layer mixer, by its selector (mixer_select). */
static const int bp_mixer_sets[BP_SEL_KINDS] = {256, 256, 200, 128, 128, 2048};

/* Format 1 (written before the faster coder; still read): 1 mixes context models only; 2..9 add the
 * Mamba (the caller's model: the `boa` command gives its "fast" built-in model at 2-3, "default" at
 * 4-9) and grow the context models; 5..9 differ mostly in table sizes (memory: 64 MB of hashed
 * contexts at 1-2, up to 512 MB at 8-9, allocated lazily and touched in proportion to the chunk).
 * Changing a row changes the coded format of that level. */
/* clang-format off */
#define CM(orders, sparse, indirect, record, text, match_min, match_bits, hash_bits, limit) \
	{MIX_CTX_COUNTS(orders, sparse, indirect, record, text), (record) > 0, 1, match_min,      \
	 match_bits, hash_bits, limit}
#define SEL_V1 {BP_SEL_C0, BP_SEL_MATCH, BP_SEL_HITS, BP_SEL_COLUMN, BP_SEL_MAMBA}
static const struct bp_level bp_levels_v1[10] = {
	/*     mamba mixers apms lr  orders sparse indirect record text match bits hash limit */
	[1] = {0,    4,     3,   15, CM(0x5e, 2,     2,       3,     3,   4,    20,  20,  1023), SEL_V1, 16, BP_APM2_C0},
	[2] = {1,    4,     3,   15, CM(0x5e, 2,     2,       3,     3,   4,    20,  20,  1023), SEL_V1, 16, BP_APM2_C0},
	[3] = {1,    5,     3,   15, CM(0x7c, 2,     2,       4,     3,   4,    20,  21,  1023), SEL_V1, 16, BP_APM2_C0},
	[4] = {1,    5,     3,   15, CM(0xfc, 3,     2,       4,     3,   4,    20,  21,  1023), SEL_V1, 16, BP_APM2_C0},
	[5] = {1,    5,     3,   15, CM(0xfc, 3,     2,       4,     3,   4,    22,  22,  1023), SEL_V1, 16, BP_APM2_C0},
	[6] = {1,    5,     3,   15, CM(0xfc, 3,     2,       4,     3,   4,    22,  22,  1023), SEL_V1, 16, BP_APM2_C0},
	[7] = {1,    5,     3,   15, CM(0xfc, 3,     2,       4,     3,   4,    22,  23,  1023), SEL_V1, 16, BP_APM2_C0},
	[8] = {1,    5,     3,   15, CM(0xfc, 3,     2,       5,     3,   4,    22,  23,  1023), SEL_V1, 16, BP_APM2_C0},
	[9] = {1,    5,     3,   15, CM(0xfc, 3,     2,       5,     3,   4,    23,  23,  1023), SEL_V1, 16, BP_APM2_C0},
};
/* Format 2 (measured on the HEP samples in 128 KiB blocks, examples/boa-frontier.md): the same
 * models, fewer of them where they bring least per unit of time. Each hashed context costs about
 * the same; the 17 of format-1 level 1 each save 0.01-0.4 %. Kept, in order of what they bring:
 * order 2, text, order 6, records (one stride and one long stride back); then order 1 and the
 * bytes two strides back; then the rest. Mixers: weights chosen by the last byte's top bits with
 * this byte's bits (C1), match length, record column, and the Mamba's confidence where it is
 * mixed in.
 *   1-3  no Mamba: 1 fastest, 2 the filesystem's default for cold blocks (within 1 % of format-1
 *        level 1), 3, 4 the format-1 level 1 contexts with better mixer contexts;
 *   5-9  with the Mamba (frozen data): 7 all the contexts of level 4, smaller than format-1
 *        level 4; 8-9 the same with larger tables, which pay only on chunks over 128 KiB. */
#define CTX_7  (MIX_CTX_O2 | MIX_CTX_O6 | MIX_CTX_REC2 | MIX_CTX_LONG1 | MIX_CTX_TEXTS)
#define CTX_9  (CTX_7 | MIX_CTX_O1 | MIX_CTX_REC3)
#define CTX_11 (CTX_9 | MIX_CTX_SPARSE2 | MIX_CTX_LONG2)
#define CTX_17 MIX_CTX_COUNTS(0x5e, 2, 2, 3, 3)
#define CM2(contexts, match_bits, hash_bits) {contexts, 1, 1, 4, match_bits, hash_bits, 1023}
#define SEL_FAST {BP_SEL_C1, BP_SEL_MATCH, BP_SEL_COLUMN, 0, 0}
#define SEL_MAMBA {BP_SEL_C1, BP_SEL_MATCH, BP_SEL_COLUMN, BP_SEL_MAMBA, 0}
static const struct bp_level bp_levels[10] = {
	/*     mamba mixers apms lr  contexts match hash */
	[1] = {0,    3,     1,   15, CM2(CTX_7,  20,   20), SEL_FAST, 16, BP_APM2_C0},
	[2] = {0,    3,     2,   15, CM2(CTX_7,  20,   20), SEL_FAST, 16, BP_APM2_C0},
	[3] = {0,    3,     3,   15, CM2(CTX_9,  20,   20), SEL_FAST, 16, BP_APM2_C0},
	[4] = {0,    3,     3,   15, CM2(CTX_17, 20,   20), SEL_FAST, 16, BP_APM2_C0},
	[5] = {1,    4,     3,   15, CM2(CTX_7,  20,   20), SEL_MAMBA, 16, BP_APM2_C0},
	[6] = {1,    4,     3,   15, CM2(CTX_11, 20,   20), SEL_MAMBA, 16, BP_APM2_C0},
	[7] = {1,    4,     3,   15, CM2(CTX_17, 20,   20), SEL_MAMBA, 16, BP_APM2_C0},
	[8] = {1,    4,     3,   15, CM2(CTX_17, 22,   22), SEL_MAMBA, 16, BP_APM2_C0},
	[9] = {1,    4,     3,   15, CM2(CTX_17, 23,   23), SEL_MAMBA, 16, BP_APM2_C0},
};
/* Format 3: level 2 (the filesystem's default for cold blocks) gains the context of the bytes one
 * and two strides back (REC3), its first APM is chosen by the match state instead of the bits
 * of the byte so far and weighed more, and its mixers' learning rate stays 1.5x the nominal one:
 * within 1 % of format-1 level 1 on both sample sets (examples/boa-frontier.md). The other
 * levels are those of format 2. */
#define CTX_8 (CTX_7 | MIX_CTX_REC3)
static const struct bp_level bp_levels_v3[10] = {
	/*     mamba mixers apms lr  contexts match hash   selectors rate_min apm2 */
	[1] = {0,    3,     1,   15, CM2(CTX_7,  20,   20), SEL_FAST, 16,     BP_APM2_C0},
	[2] = {0,    3,     2,   15, CM2(CTX_8,  20,   20), SEL_FAST, 24,     BP_APM2_MATCH},
	[3] = {0,    3,     3,   15, CM2(CTX_9,  20,   20), SEL_FAST, 16,     BP_APM2_C0},
	[4] = {0,    3,     3,   15, CM2(CTX_17, 20,   20), SEL_FAST, 16,     BP_APM2_C0},
	[5] = {1,    4,     3,   15, CM2(CTX_7,  20,   20), SEL_MAMBA, 16,    BP_APM2_C0},
	[6] = {1,    4,     3,   15, CM2(CTX_11, 20,   20), SEL_MAMBA, 16,    BP_APM2_C0},
	[7] = {1,    4,     3,   15, CM2(CTX_17, 20,   20), SEL_MAMBA, 16,    BP_APM2_C0},
	[8] = {1,    4,     3,   15, CM2(CTX_17, 22,   22), SEL_MAMBA, 16,    BP_APM2_C0},
	[9] = {1,    4,     3,   15, CM2(CTX_17, 23,   23), SEL_MAMBA, 16,    BP_APM2_C0},
};
/* Format 4: level 2's order-1 APM sees only the last byte's top five bits: its rows no longer
 * miss the caches at every bit (level 2 decodes about 9 % faster) for 0.01-0.02 % more bytes.
 * The other levels are those of format 3. */
static const struct bp_level bp_levels_v4[10] = {
	/*     mamba mixers apms lr  contexts match hash   selectors rate_min apm2 */
	[1] = {0,    3,     1,   15, CM2(CTX_7,  20,   20), SEL_FAST, 16,     BP_APM2_C0},
	[2] = {0,    3,     2,   15, CM2(CTX_8,  20,   20), SEL_FAST, 24,     BP_APM2_MATCH_C1HI},
	[3] = {0,    3,     3,   15, CM2(CTX_9,  20,   20), SEL_FAST, 16,     BP_APM2_C0},
	[4] = {0,    3,     3,   15, CM2(CTX_17, 20,   20), SEL_FAST, 16,     BP_APM2_C0},
	[5] = {1,    4,     3,   15, CM2(CTX_7,  20,   20), SEL_MAMBA, 16,    BP_APM2_C0},
	[6] = {1,    4,     3,   15, CM2(CTX_11, 20,   20), SEL_MAMBA, 16,    BP_APM2_C0},
	[7] = {1,    4,     3,   15, CM2(CTX_17, 20,   20), SEL_MAMBA, 16,    BP_APM2_C0},
	[8] = {1,    4,     3,   15, CM2(CTX_17, 22,   22), SEL_MAMBA, 16,    BP_APM2_C0},
	[9] = {1,    4,     3,   15, CM2(CTX_17, 23,   23), SEL_MAMBA, 16,    BP_APM2_C0},
};
/* Format 5: level 2's first-layer mixers keep 16-bit weights, with steps rounded to nearest
 * (mix_layers16): their dot products and steps take half the vector work and their weights half
 * the cache, and the rounding makes the chunks 0.02-0.03 % smaller on the HEP samples. The
 * other levels are those of format 4. */
static const struct bp_level bp_levels_v5[10] = {
	/*     mamba mixers apms lr  contexts match hash   selectors rate_min apm2                w16 */
	[1] = {0,    3,     1,   15, CM2(CTX_7,  20,   20), SEL_FAST, 16,     BP_APM2_C0,         0},
	[2] = {0,    3,     2,   15, CM2(CTX_8,  20,   20), SEL_FAST, 24,     BP_APM2_MATCH_C1HI, 1},
	[3] = {0,    3,     3,   15, CM2(CTX_9,  20,   20), SEL_FAST, 16,     BP_APM2_C0,         0},
	[4] = {0,    3,     3,   15, CM2(CTX_17, 20,   20), SEL_FAST, 16,     BP_APM2_C0,         0},
	[5] = {1,    4,     3,   15, CM2(CTX_7,  20,   20), SEL_MAMBA, 16,    BP_APM2_C0,         0},
	[6] = {1,    4,     3,   15, CM2(CTX_11, 20,   20), SEL_MAMBA, 16,    BP_APM2_C0,         0},
	[7] = {1,    4,     3,   15, CM2(CTX_17, 20,   20), SEL_MAMBA, 16,    BP_APM2_C0,         0},
	[8] = {1,    4,     3,   15, CM2(CTX_17, 22,   22), SEL_MAMBA, 16,    BP_APM2_C0,         0},
	[9] = {1,    4,     3,   15, CM2(CTX_17, 23,   23), SEL_MAMBA, 16,    BP_APM2_C0,         0},
};
/* clang-format on */

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

const struct bp_level *bp_level_get(int version, int level)
{
	static const struct bp_level *const tables[] = {NULL,         bp_levels_v1, bp_levels,
	                                                bp_levels_v3, bp_levels_v4, bp_levels_v5};

	if (level < 1 || level > 9 || version < 1 || version > 5)
		return NULL;
	return &tables[version][level];
}

static void mamba_next(struct bp *p)
{
	uint32_t freq[256];

	boa_stream_predict(p->stream, freq);
	for (int i = 0; i < 256; i++)
		p->tree[256 + i] = freq[i];
	for (int i = 255; i >= 1; i--)
		p->tree[i] = p->tree[2 * i] + p->tree[2 * i + 1];
}

int bp_new(const struct bp_level *lv, const struct boa_model *m, struct bp **out)
{
	struct bp *p;
	int rc, n;

	if (!lv)
		return -EINVAL;
	if (lv->mamba && !m)
		return -ENOTSUP;
	p = aligned_alloc(32, (sizeof(*p) + 31) & ~(size_t)31); /* the inputs are vectors */
	if (!p)
		return -ENOMEM;
	memset(p, 0, sizeof(*p));
	p->lv = lv;
	p->model = lv->mamba ? m : NULL;
	rc = mix_cm_new(&lv->cm, &p->cm);
	if (rc)
		goto fail;
	if (lv->mamba) {
		rc = boa_stream_new(m, &p->stream);
		if (rc)
			goto fail;
	}
	n = 1 + p->cm->ninputs + (lv->mamba ? 2 : 0);
	if (lv->mamba && (rc = mix_apm_new(&p->mamba_apm, 65536, 6)))
		goto fail;
	p->nx = n;
	p->nmixers = lv->mixers;
	if (!lv->mamba && lv->mixers == 3 && lv->sel[0] == BP_SEL_C1 &&
	    lv->sel[1] == BP_SEL_MATCH && lv->sel[2] == BP_SEL_COLUMN) {
		p->kind = lv->apms == 1                    ? BP_KIND_A1
		          : lv->apms == 3                  ? BP_KIND_A3
		          : lv->apms != 2                  ? BP_KIND_ANY
		          : lv->w16                        ? BP_KIND_A2_W16
		          : lv->apm2 == BP_APM2_MATCH_C1HI ? BP_KIND_A2_C1HI
		          : lv->apm2 == BP_APM2_MATCH      ? BP_KIND_A2_MATCH
		                                           : BP_KIND_A2;
	}
	if (lv->w16) { /* the kernels of this kind only */
		const int sets[3] = {bp_mixer_sets[BP_SEL_C1], bp_mixer_sets[BP_SEL_MATCH],
		                     bp_mixer_sets[BP_SEL_COLUMN]};

		rc = -EINVAL;
		/* the weights mix_mixer would start from (4096 and 65536 / 3), >> 4 */
		if (p->kind != BP_KIND_A2_W16 ||
		    (rc = mix_layers16_new(&p->l16, n, sets, 256, 4096 >> 4, (65536 / 3) >> 4)))
			goto fail;
		p->nmixers = 0; /* no mix_mixer */
	}
	for (int i = 0; i < p->nmixers; i++) {
		rc = mix_mixer_new(&p->mixer[i], n, bp_mixer_sets[lv->sel[i]], 4096, lv->lr_shift);
		if (rc)
			goto fail;
	}
	if (p->nmixers > 1) {
		rc =
		    mix_mixer_new(&p->final, p->nmixers + 1, 256, 65536 / p->nmixers, lv->lr_shift);
		if (rc)
			goto fail;
	}
	/* apm[0]'s context: the column (apms 3, 16 values) or the match state (BP_APM2_MATCH*,
	 * 64), with the bits so far; apm[1]'s: the last byte (or its top five bits) with them */
	if (lv->apms >= 1 &&
	    (rc = mix_apm_new(&p->apm[0], (lv->apms == 2 && lv->apm2 != BP_APM2_C0 ? 64 : 16) * 256,
	                      5)))
		goto fail;
	if (lv->apms >= 2 &&
	    (rc = mix_apm_new(&p->apm[1], lv->apm2 == BP_APM2_MATCH_C1HI ? 32 * 256 : 65536, 5)))
		goto fail;
	if (lv->apms >= 3 && (rc = mix_apm_new(&p->apm[2], 64 * 256, 5)))
		goto fail;
	*out = p;
	return 0;
fail:
	bp_free(p);
	return rc;
}

void bp_free(struct bp *p)
{
	if (!p)
		return;
	mix_cm_free(p->cm);
	if (p->stream)
		boa_stream_free(p->stream);
	for (int i = 0; i < BP_MAX_MIXERS; i++)
		mix_mixer_free(&p->mixer[i]);
	mix_mixer_free(&p->final);
	mix_layers16_free(&p->l16);
	for (int i = 0; i < 3; i++)
		mix_apm_free(&p->apm[i]);
	mix_apm_free(&p->mamba_apm);
	free(p);
}

const struct bp_level *bp_params(const struct bp *p)
{
	return p->lv;
}

const struct boa_model *bp_model(const struct bp *p)
{
	return p->model;
}

void bp_reset(struct bp *p, const uint8_t *buf, size_t len)
{
	mix_cm_reset(p->cm, buf, len);
	for (int i = 0; i < p->nmixers; i++)
		mix_mixer_reset(&p->mixer[i]);
	if (p->nmixers > 1)
		mix_mixer_reset(&p->final);
	if (p->lv->w16) /* instead of the mixers */
		mix_layers16_reset(&p->l16);
	for (int i = 0; i < p->lv->apms; i++)
		mix_apm_reset(&p->apm[i]);
	if (p->lv->mamba)
		mix_apm_reset(&p->mamba_apm);
	p->rate = 64;
	p->pr = 2048;
	if (p->stream) {
		boa_stream_reset(p->stream);
		mamba_next(p);
	}
}

void bp_rebind(struct bp *p, const uint8_t *buf)
{
	p->cm->buf = buf; /* mix_cm_reset reads nothing from it: the reset stays exact */
}

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
				int d = mix_layers16_mix(&p->l16, p->x, sets, fset);

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

uint32_t bp_predict(struct bp *p)
{
	switch (p->kind) {
	case BP_KIND_A1:
		return predict(p, 1, 1, BP_APM2_C0, 0);
	case BP_KIND_A2:
		return predict(p, 1, 2, BP_APM2_C0, 0);
	case BP_KIND_A2_MATCH:
		return predict(p, 1, 2, BP_APM2_MATCH, 0);
	case BP_KIND_A2_C1HI:
		return predict(p, 1, 2, BP_APM2_MATCH_C1HI, 0);
	case BP_KIND_A2_W16:
		return predict(p, 1, 2, BP_APM2_MATCH_C1HI, 1);
	case BP_KIND_A3:
		return predict(p, 1, 3, BP_APM2_C0, 0);
	default:
		return predict(p, 0, p->lv->apms, p->lv->apm2, 0);
	}
}

/* Levels 1-4, once mix_cm_update has moved to the next bit: asks the cache for what that bit's
 * mixing will read and its context already names, so the misses overlap with the updates below:
 * the order-1 APM's row (4.3 MB of rows, a new one every bit) and the weight set of the mixer
 * chosen by the last byte's top bits and this byte's bits (196 KB at 24 inputs). A hint only: no
 * coded byte depends on it. */
static inline __attribute__((always_inline)) void prefetch_next(const struct bp *p, int apms,
                                                                int w16)
{
	const struct mix_cm *cm = p->cm;
	uint32_t c0 = cm->c0, c1 = cm->c4 & 255;
	const uint16_t *row;

	if (apms >= 2) {
		uint32_t ctx = p->lv->apm2 == BP_APM2_MATCH_C1HI ? c1 >> 3 << 8 | c0 : c1 << 8 | c0;

		row = p->apm[1].t + (size_t)ctx * 33;

		__builtin_prefetch(row);
		__builtin_prefetch(row + 32);
	}
	if (apms == 2 && p->lv->apm2 != BP_APM2_C0) { /* the match state as predict finds it */
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
                                                         int w16)
{
	struct mix_cm *cm = p->cm;

	/* first: at a byte end it asks for the next byte's hashed-table lines, and the work below
	 * (which does not read cm) then hides part of those misses */
	mix_cm_update(cm, bit);
	if (fast)
		prefetch_next(p, apms, w16);
	if (w16) {
		mix_layers16_train(&p->l16, bit, p->rate);
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
			mamba_next(p);
		}
	}
}

void bp_update(struct bp *p, int bit)
{
	switch (p->kind) {
	case BP_KIND_A1:
		update(p, bit, 1, 1, 0);
		break;
	case BP_KIND_A2:
	case BP_KIND_A2_MATCH:
	case BP_KIND_A2_C1HI:
		update(p, bit, 1, 2, 0);
		break;
	case BP_KIND_A2_W16:
		update(p, bit, 1, 2, 1);
		break;
	case BP_KIND_A3:
		update(p, bit, 1, 3, 0);
		break;
	default:
		update(p, bit, 0, p->lv->apms, 0);
		break;
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
		update(p, bit, fast, apms, w16);
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
		update(p, bit, fast, apms, w16);
	}
	*ep = e;
}

void bp_decode_byte(struct bp *p, struct mix_dec *d, uint8_t *out)
{
	switch (p->kind) {
	case BP_KIND_A1:
		decode_byte(p, d, out, 1, 1, BP_APM2_C0, 0);
		break;
	case BP_KIND_A2:
		decode_byte(p, d, out, 1, 2, BP_APM2_C0, 0);
		break;
	case BP_KIND_A2_MATCH:
		decode_byte(p, d, out, 1, 2, BP_APM2_MATCH, 0);
		break;
	case BP_KIND_A2_C1HI:
		decode_byte(p, d, out, 1, 2, BP_APM2_MATCH_C1HI, 0);
		break;
	case BP_KIND_A2_W16:
		decode_byte(p, d, out, 1, 2, BP_APM2_MATCH_C1HI, 1);
		break;
	case BP_KIND_A3:
		decode_byte(p, d, out, 1, 3, BP_APM2_C0, 0);
		break;
	default:
		for (int j = 0, byte = 1; j < 8; j++) {
			int bit = mix_dec_bit(d, bp_predict(p));

			byte = byte << 1 | bit;
			if (j == 7)
				*out = (uint8_t)byte;
			bp_update(p, bit);
		}
		break;
	}
}

void bp_encode_byte(struct bp *p, struct mix_enc *e, int byte)
{
	switch (p->kind) {
	case BP_KIND_A1:
		encode_byte(p, e, byte, 1, 1, BP_APM2_C0, 0);
		break;
	case BP_KIND_A2:
		encode_byte(p, e, byte, 1, 2, BP_APM2_C0, 0);
		break;
	case BP_KIND_A2_MATCH:
		encode_byte(p, e, byte, 1, 2, BP_APM2_MATCH, 0);
		break;
	case BP_KIND_A2_C1HI:
		encode_byte(p, e, byte, 1, 2, BP_APM2_MATCH_C1HI, 0);
		break;
	case BP_KIND_A2_W16:
		encode_byte(p, e, byte, 1, 2, BP_APM2_MATCH_C1HI, 1);
		break;
	case BP_KIND_A3:
		encode_byte(p, e, byte, 1, 3, BP_APM2_C0, 0);
		break;
	default:
		for (int j = 7; j >= 0; j--) {
			int bit = (byte >> j) & 1;

			mix_enc_bit(e, bit, bp_predict(p));
			bp_update(p, bit);
		}
		break;
	}
}
