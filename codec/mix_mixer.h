/* mix_mixer — gated logistic mixing and adaptive probability maps of the BOA mixing coder.
 *
 * Owns: a mixer (several weight sets over the same stretched inputs; the caller picks the set
 * for each bit from a small context; weights learn online by gradient descent on coding cost)
 * and an APM (a probability refined by a context: 33 interpolated buckets per context over the
 * stretched input). All integer; weights are 16.16 fixed point.
 * Does not own: the inputs (mix_cm.h, the Mamba in boa_predict.c) or coding (mix_ac.h).
 * Threads: a mixer or APM is per stream, used by one thread.
 * Errors: *_new returns 0 or -ENOMEM. */
#ifndef BOAFS_MIX_MIXER_H
#define BOAFS_MIX_MIXER_H

#include <stdint.h>

#include "mix_tables.h"

#define MIX_MAX_INPUTS 64
#define MIX_W_MAX      ((1 << 18) - 1) /* weights stay within +-4.0 */

struct mix_mixer {
	int n;      /* inputs */
	int stride; /* n rounded up to 8: the weights of a set */
	int nsets;  /* weight sets */
	int32_t *weights;
	int32_t *w; /* the weight set chosen for this bit */
	int32_t init_weight;
	/* sum of x[i] * (w[i] >> 4), and w[i] += x[i] * err >> shift clamped to +-MIX_W_MAX: the
	 * AVX2 or the portable version, which give the same integers */
	int32_t (*dot_fn)(const int32_t *x, const int32_t *w, int n);
	void (*train_fn)(const int32_t *x, int32_t *w, int n, int32_t err, int shift);
	void (*dot3_fn)(const int32_t *x, int32_t *const *w, int n, int32_t *out);
	void (*train3_fn)(const int32_t *x, int32_t *const *w, int n, const int32_t *err,
	                  int shift);
	int (*layers_mix_fn)(struct mix_mixer *m, struct mix_mixer *final, const int32_t *x,
	                     const int *sets, int fset, int32_t *x2);
	void (*layers_train_fn)(struct mix_mixer *m, struct mix_mixer *final, const int32_t *x,
	                        const int32_t *x2, int bit, int rate);
	int lr_shift; /* learning rate: larger is slower */
	int dot;      /* stretched output */
	int pr;       /* 12-bit output */
};

int mix_mixer_new(struct mix_mixer *m, int n, int nsets, int32_t init_weight, int lr_shift);
/* Picks the kernels: "portable" (any CPU) or "avx2" (the default where the CPU has it); both give
 * the same integers, which tests check. Returns 0, or -ENOTSUP (unknown, or no AVX2 here). */
int mix_mixer_set_kernels(struct mix_mixer *m, const char *name);
void mix_mixer_free(struct mix_mixer *m);
void mix_mixer_reset(struct mix_mixer *m);

/* Mixes x[0..n) with weight set `set`; returns the 12-bit probability. `x` is 32-byte aligned
 * and zero from n up to a multiple of 8. */
static inline int mix_mixer_mix(struct mix_mixer *m, const int32_t *x, int set)
{
	int32_t sum;

	m->w = m->weights + (int64_t)set * m->stride;
	sum = m->dot_fn(x, m->w, m->stride) >> 12;
	if (sum > 2047)
		sum = 2047;
	if (sum < -2047)
		sum = -2047;
	m->dot = (int)sum;
	m->pr = mix_squash(m->dot);
	return m->pr;
}

/* Learns from the coded bit; `x` must be the inputs given to the last mix. `rate` scales the
 * step (16 = nominal), so callers can learn faster at the start of a chunk. */
static inline void mix_mixer_update(struct mix_mixer *m, const int32_t *x, int bit, int rate)
{
	m->train_fn(x, m->w, m->stride, ((bit << 12) - m->pr) * rate, m->lr_shift);
}

/* mix_mixer_mix and mix_mixer_update on the three mixers m[0..3) of the same inputs, sizes and
 * learning rate (set sets[j] for m[j]): the same results, the inputs read once. */
void mix_mixers3_mix(struct mix_mixer *m, const int32_t *x, const int *sets);
void mix_mixers3_update(struct mix_mixer *m, const int32_t *x, int bit, int rate);

/* Both layers of levels 1-4 in one call: mix_mixers3_mix on m[0..3), then mix_mixer_mix of
 * `final` (4 inputs, 8 weights a set) on x2 = their stretched outputs and a bias of 256, with
 * set `fset`; the same integers. Writes x2[0..4) (x2 is 32-byte aligned, zero in [4, 8));
 * returns final's 12-bit probability. The update learns the coded bit in all four. */
static inline int mix_mixers3_layers_mix(struct mix_mixer *m, struct mix_mixer *final,
                                         const int32_t *x, const int *sets, int fset, int32_t *x2)
{
	return m->layers_mix_fn(m, final, x, sets, fset, x2);
}

static inline void mix_mixers3_layers_update(struct mix_mixer *m, struct mix_mixer *final,
                                             const int32_t *x, const int32_t *x2, int bit, int rate)
{
	m->layers_train_fn(m, final, x, x2, bit, rate);
}

/* The two layers of level 2 from chunk format 5: three first-layer mixers of up to 32 inputs
 * with 16-bit weights (a weight set is one 64-byte line: half the cache of 32-bit weights, and
 * the dot products in _mm256_madd_epi16) and a second layer of four inputs. A weight is what
 * the 32-bit mixer's w >> 4 is (4096 = 1.0, within -16384..16383), so a dot product is the one
 * mix_mixer would compute; a step is x * (err >> 4) / 2^15 rounded to nearest (mix_mixer's
 * lr_shift 15), where mix_mixer floors x * err / 2^15 at 1/16 of that unit. The rounding loses
 * nothing: on the HEP samples the chunks are 0.02-0.03 % smaller. Both kernels ("avx2" and
 * "portable") give the same integers. */
#define MIX16_INPUTS 32

struct mix_layers16 {
	int16_t x[MIX16_INPUTS] __attribute__((aligned(32))); /* the inputs of the last mix */
	int32_t x2[4] __attribute__((aligned(16)));           /* the second layer's */
	int n;                                                /* live inputs */
	int nsets[3], fsets;
	int16_t *weights[3]; /* nsets[j] * MIX16_INPUTS */
	int16_t *w[3];       /* the sets of the last mix */
	int32_t *fweights;   /* fsets * 4: 16-bit values, kept in 32 bits for the 4-lane products */
	int32_t *fw;
	int pr[3];       /* the first layer's 12-bit outputs */
	int fpr;         /* the second layer's */
	int init, finit; /* the weights a reset starts from */
	int avx2;        /* the AVX2 kernels are chosen (callers may inline them) */
	int (*mix_fn)(struct mix_layers16 *m, const int32_t *x, const int *sets, int fset);
	void (*train_fn)(struct mix_layers16 *m, int bit, int rate);
};

/* `n` <= MIX16_INPUTS inputs, nsets[j] weight sets for mixer j, `fsets` for the second layer;
 * every weight starts at `init` in the first layer, `finit` in the second. Returns 0, -EINVAL
 * (n) or -ENOMEM; mix_layers16_free frees what it took, even after a failure. */
int mix_layers16_new(struct mix_layers16 *m, int n, const int *nsets, int fsets, int init,
                     int finit);
/* Picks the kernels as mix_mixer_set_kernels does. */
int mix_layers16_set_kernels(struct mix_layers16 *m, const char *name);
void mix_layers16_free(struct mix_layers16 *m);
void mix_layers16_reset(struct mix_layers16 *m);

/* Mixes x[0..n) (int32, 32-byte aligned, zero from n to MIX16_INPUTS) with set sets[j] in
 * mixer j and their outputs with set `fset` of the second layer; returns its stretched output
 * (-2047..2047; its 12-bit probability, mix_squash of that, is in fpr): the APMs want it
 * stretched, and mix_stretch_squash gets that from it in one lookup. */
static inline int mix_layers16_mix(struct mix_layers16 *m, const int32_t *x, const int *sets,
                                   int fset)
{
	return m->mix_fn(m, x, sets, fset);
}

/* Learns the coded bit in both layers; `rate` as in mix_mixer_update (16 = nominal). */
static inline void mix_layers16_train(struct mix_layers16 *m, int bit, int rate)
{
	m->train_fn(m, bit, rate);
}

struct mix_apm {
	int nctx;
	int rate;       /* adaptation shift */
	uint16_t *t;    /* nctx * 33, 16-bit probabilities */
	uint16_t *cell; /* lower bucket of the last refine */
	int w;          /* and the weight of the upper one, 0..127 */
};

int mix_apm_new(struct mix_apm *a, int nctx, int rate);
void mix_apm_free(struct mix_apm *a);
void mix_apm_reset(struct mix_apm *a);

/* mix_apm_refine with `s` = mix_stretch(pr) + 2048, for callers that refine one probability in
 * several APMs. */
static inline int mix_apm_refine_stretched(struct mix_apm *a, int s, uint32_t ctx)
{
	int w = s & 127;
	uint16_t *t = a->t + ctx * 33 + (s >> 7);

	a->cell = t;
	a->w = w;
	return (t[0] * (128 - w) + t[1] * w) >> 7;
}

/* Refines 12-bit `pr` in context `ctx` (< nctx); returns a 16-bit probability. */
static inline int mix_apm_refine(struct mix_apm *a, int pr, uint32_t ctx)
{
	return mix_apm_refine_stretched(a, mix_stretch(pr) + 2048 /* 1..4095 */, ctx);
}

static inline void mix_apm_update(struct mix_apm *a, int bit)
{
	int target = bit ? 65535 : 0, shift = a->rate + 7;
	uint16_t *t = a->cell;
	int v0 = t[0], v1 = t[1];

	/* both neighbours, each in proportion to its share of the interpolation */
	t[0] = (uint16_t)(v0 + (((target - v0) * (128 - a->w)) >> shift));
	t[1] = (uint16_t)(v1 + (((target - v1) * a->w) >> shift));
}

#endif
