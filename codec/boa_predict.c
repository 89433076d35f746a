#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "boa_model.h"
#include "boa_predict.h"
#include "mix_ac.h"
#include "mix_mixer.h"
#include "boa_predict_impl.h"
#include "mix_mixer_impl.h"

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
	[1] = {0,    4,     3,   15, CM(0x5e, 2,     2,       3,     3,   4,    20,  20,  1023), SEL_V1, 16, BP_APM2_C0, 0},
	[2] = {1,    4,     3,   15, CM(0x5e, 2,     2,       3,     3,   4,    20,  20,  1023), SEL_V1, 16, BP_APM2_C0, 0},
	[3] = {1,    5,     3,   15, CM(0x7c, 2,     2,       4,     3,   4,    20,  21,  1023), SEL_V1, 16, BP_APM2_C0, 0},
	[4] = {1,    5,     3,   15, CM(0xfc, 3,     2,       4,     3,   4,    20,  21,  1023), SEL_V1, 16, BP_APM2_C0, 0},
	[5] = {1,    5,     3,   15, CM(0xfc, 3,     2,       4,     3,   4,    22,  22,  1023), SEL_V1, 16, BP_APM2_C0, 0},
	[6] = {1,    5,     3,   15, CM(0xfc, 3,     2,       4,     3,   4,    22,  22,  1023), SEL_V1, 16, BP_APM2_C0, 0},
	[7] = {1,    5,     3,   15, CM(0xfc, 3,     2,       4,     3,   4,    22,  23,  1023), SEL_V1, 16, BP_APM2_C0, 0},
	[8] = {1,    5,     3,   15, CM(0xfc, 3,     2,       5,     3,   4,    22,  23,  1023), SEL_V1, 16, BP_APM2_C0, 0},
	[9] = {1,    5,     3,   15, CM(0xfc, 3,     2,       5,     3,   4,    23,  23,  1023), SEL_V1, 16, BP_APM2_C0, 0},
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
	[1] = {0,    3,     1,   15, CM2(CTX_7,  20,   20), SEL_FAST, 16, BP_APM2_C0, 0},
	[2] = {0,    3,     2,   15, CM2(CTX_7,  20,   20), SEL_FAST, 16, BP_APM2_C0, 0},
	[3] = {0,    3,     3,   15, CM2(CTX_9,  20,   20), SEL_FAST, 16, BP_APM2_C0, 0},
	[4] = {0,    3,     3,   15, CM2(CTX_17, 20,   20), SEL_FAST, 16, BP_APM2_C0, 0},
	[5] = {1,    4,     3,   15, CM2(CTX_7,  20,   20), SEL_MAMBA, 16, BP_APM2_C0, 0},
	[6] = {1,    4,     3,   15, CM2(CTX_11, 20,   20), SEL_MAMBA, 16, BP_APM2_C0, 0},
	[7] = {1,    4,     3,   15, CM2(CTX_17, 20,   20), SEL_MAMBA, 16, BP_APM2_C0, 0},
	[8] = {1,    4,     3,   15, CM2(CTX_17, 22,   22), SEL_MAMBA, 16, BP_APM2_C0, 0},
	[9] = {1,    4,     3,   15, CM2(CTX_17, 23,   23), SEL_MAMBA, 16, BP_APM2_C0, 0},
};
/* Format 3: level 2 (the filesystem's default for cold blocks) gains the context of the bytes one
 * and two strides back (REC3), its first APM is chosen by the match state instead of the bits
 * of the byte so far and weighed more, and its mixers' learning rate stays 1.5x the nominal one:
 * within 1 % of format-1 level 1 on both sample sets (examples/boa-frontier.md). The other
 * levels are those of format 2. */
#define CTX_8 (CTX_7 | MIX_CTX_REC3)
static const struct bp_level bp_levels_v3[10] = {
	/*     mamba mixers apms lr  contexts match hash   selectors rate_min apm2 w16 */
	[1] = {0,    3,     1,   15, CM2(CTX_7,  20,   20), SEL_FAST, 16,     BP_APM2_C0, 0},
	[2] = {0,    3,     2,   15, CM2(CTX_8,  20,   20), SEL_FAST, 24,     BP_APM2_MATCH, 0},
	[3] = {0,    3,     3,   15, CM2(CTX_9,  20,   20), SEL_FAST, 16,     BP_APM2_C0, 0},
	[4] = {0,    3,     3,   15, CM2(CTX_17, 20,   20), SEL_FAST, 16,     BP_APM2_C0, 0},
	[5] = {1,    4,     3,   15, CM2(CTX_7,  20,   20), SEL_MAMBA, 16,    BP_APM2_C0, 0},
	[6] = {1,    4,     3,   15, CM2(CTX_11, 20,   20), SEL_MAMBA, 16,    BP_APM2_C0, 0},
	[7] = {1,    4,     3,   15, CM2(CTX_17, 20,   20), SEL_MAMBA, 16,    BP_APM2_C0, 0},
	[8] = {1,    4,     3,   15, CM2(CTX_17, 22,   22), SEL_MAMBA, 16,    BP_APM2_C0, 0},
	[9] = {1,    4,     3,   15, CM2(CTX_17, 23,   23), SEL_MAMBA, 16,    BP_APM2_C0, 0},
};
/* Format 4: level 2's order-1 APM sees only the last byte's top five bits: its rows no longer
 * miss the caches at every bit (level 2 decodes about 9 % faster) for 0.01-0.02 % more bytes.
 * The other levels are those of format 3. */
static const struct bp_level bp_levels_v4[10] = {
	/*     mamba mixers apms lr  contexts match hash   selectors rate_min apm2 w16 */
	[1] = {0,    3,     1,   15, CM2(CTX_7,  20,   20), SEL_FAST, 16,     BP_APM2_C0, 0},
	[2] = {0,    3,     2,   15, CM2(CTX_8,  20,   20), SEL_FAST, 24,     BP_APM2_MATCH_C1HI, 0},
	[3] = {0,    3,     3,   15, CM2(CTX_9,  20,   20), SEL_FAST, 16,     BP_APM2_C0, 0},
	[4] = {0,    3,     3,   15, CM2(CTX_17, 20,   20), SEL_FAST, 16,     BP_APM2_C0, 0},
	[5] = {1,    4,     3,   15, CM2(CTX_7,  20,   20), SEL_MAMBA, 16,    BP_APM2_C0, 0},
	[6] = {1,    4,     3,   15, CM2(CTX_11, 20,   20), SEL_MAMBA, 16,    BP_APM2_C0, 0},
	[7] = {1,    4,     3,   15, CM2(CTX_17, 20,   20), SEL_MAMBA, 16,    BP_APM2_C0, 0},
	[8] = {1,    4,     3,   15, CM2(CTX_17, 22,   22), SEL_MAMBA, 16,    BP_APM2_C0, 0},
	[9] = {1,    4,     3,   15, CM2(CTX_17, 23,   23), SEL_MAMBA, 16,    BP_APM2_C0, 0},
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

const struct bp_level *bp_level_get(int version, int level)
{
	static const struct bp_level *const tables[] = {NULL,         bp_levels_v1, bp_levels,
	                                                bp_levels_v3, bp_levels_v4, bp_levels_v5};

	if (level < 1 || level > 9 || version < 1 || version > 5)
		return NULL;
	return &tables[version][level];
}

void bp_mamba_next(struct bp *p)
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
		bp_mamba_next(p);
	}
}

void bp_rebind(struct bp *p, const uint8_t *buf)
{
	p->cm->buf = buf; /* mix_cm_reset reads nothing from it: the reset stays exact */
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

void bp_update(struct bp *p, int bit)
{
	switch (p->kind) {
	case BP_KIND_A1:
		update(p, bit, 1, 1, BP_APM2_C0, 0);
		break;
	case BP_KIND_A2:
		update(p, bit, 1, 2, BP_APM2_C0, 0);
		break;
	case BP_KIND_A2_MATCH:
		update(p, bit, 1, 2, BP_APM2_MATCH, 0);
		break;
	case BP_KIND_A2_C1HI:
		update(p, bit, 1, 2, BP_APM2_MATCH_C1HI, 0);
		break;
	case BP_KIND_A2_W16:
		update(p, bit, 1, 2, BP_APM2_MATCH_C1HI, 1);
		break;
	case BP_KIND_A3:
		update(p, bit, 1, 3, BP_APM2_C0, 0);
		break;
	default:
		update(p, bit, 0, p->lv->apms, p->lv->apm2, 0);
		break;
	}
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
#ifdef MIX_LAYERS16_AVX2
		if (p->l16.avx2) {
			bp_decode_byte_l16_avx2(p, d, out);
			break;
		}
#endif
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
#ifdef MIX_LAYERS16_AVX2
		if (p->l16.avx2) {
			bp_encode_byte_l16_avx2(p, e, byte);
			break;
		}
#endif
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
