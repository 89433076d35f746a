/* boa_model_impl — internals of the Mamba byte model shared by the inference paths
 * (boa_model.c scalar, boa_model_avx2.c), the trainer (boa_train.c) and the model tests.
 *
 * Owns: the in-memory layout of a loaded model (weights transposed and padded for the kernels),
 * the per-stream state, the kernel table (one per instruction set), and the project's own
 * float32 exp/log/rsqrt. Nothing here is for the coder: it uses boa_model.h.
 *
 * Determinism: every kernel computes each output element with the same sequence of IEEE float32
 * operations as the scalar reference (no contraction: -ffp-contract=off, no reassociation), so
 * the AVX2 kernels agree bit for bit with the scalar ones. Sums over a vector use the fixed
 * 8-lane order of bm_sum8. */
#ifndef BOAFS_BOA_MODEL_IMPL_H
#define BOAFS_BOA_MODEL_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "boa_model.h"

/* Determinism needs every a*b+c rounded twice: meson passes -ffp-contract=off; clang also
 * honours the standard pragma (gcc does not know it, hence the guard). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define BOAM_MAGIC         "BOAM"
#define BOAM_VERSION       1u
#define BOAM_HEADER_BYTES  40u
#define BOAM_TRAILER_BYTES 8u
#define BOA_VOCAB          256

struct boa_hparams {
	uint32_t dim, layers, vocab, d_state, d_conv, expand, dt_rank;
};

/* Number of float32 weights a model of these hyper-parameters holds (file order). */
size_t boa_hparams_params(const struct boa_hparams *hp);
/* 0 when the hyper-parameters are ones this implementation runs; else -EINVAL and a message. */
int boa_hparams_check(const struct boa_hparams *hp, char *err, size_t errlen);
/* Writes a message, printf-style, into `err` (errlen bytes; nothing when err is NULL or errlen
 * 0): the `err` argument of the loader and of the trainer (boa_train.c). */
void boa_model_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Serialises hyper-parameters and `params` float32 weights in file order into a .boam image
 * (malloc'ed, *out_len bytes). */
int boa_model_encode(const struct boa_hparams *hp, const float *weights, uint8_t **out,
                     size_t *out_len);
int boa_model_hparams(const struct boa_model *m, struct boa_hparams *hp);

/* Chooses the kernels: "scalar", "avx2", or "auto" (the best this CPU runs). -ENOTSUP when the
 * CPU lacks them. Streams made afterwards use the choice; a model is otherwise read-only. */
int boa_model_set_kernels(struct boa_model *m, const char *name);
const char *boa_model_kernels(const struct boa_model *m);

/* One Mamba block, weights as the kernels read them: matrices transposed to [in][out] with
 * `out` padded to a multiple of 8 with zero columns. */
struct boa_layer {
	const float *ln1_g, *ln1_b; /* [dim] */
	const float *in_t;          /* [dim][2E]: columns 0..E-1 are x, E..2E-1 are z */
	const float *conv_w;        /* [d_conv][E]: tap k multiplies the input at t-(d_conv-1)+k */
	const float *conv_b;        /* [E] */
	const float *xp_t;          /* [E][xp_pad]: columns dt (R), B (S), C (S), zeros */
	const float *dtp_t;         /* [R][E] */
	const float *dt_b;          /* [E] */
	const float *A;             /* [S][E] = -exp(A_log) */
	const float *D;             /* [E] */
	const float *out_t;         /* [E][dim] */
	const float *ln2_g, *ln2_b; /* [dim] */
	const float *ff1_t;         /* [dim][4dim] */
	const float *ff1_b;         /* [4dim] */
	const float *ff2_t;         /* [4dim][dim] */
	const float *ff2_b;         /* [dim] */
};

struct boa_kernels {
	const char *name;
	/* out[o] = (bias ? bias[o] : 0) + sum_i wt[i*nout + o] * in[i], summed in order of i. */
	void (*matvec)(float *out, const float *wt, const float *in, int nin, int nout,
	               const float *bias);
	/* matvec for n streams at once: out[j][o] = (bias ? bias[o] : 0) +
	 * sum_i wt[i*nout + o] * in[j][i], each element by exactly matvec's operations, while
	 * every chunk of weights is read once for all n (the batched step of boa_streams_*). */
	void (*matmat)(float *const *out, const float *wt, const float *const *in, int nin,
	               int nout, const float *bias, int n);
	/* LayerNorm of x[n] (n % 8 == 0) into y. */
	void (*layernorm)(float *y, const float *x, const float *g, const float *b, int n);
	/* xc[e] = silu(b[e] + sum_k w[k][e] * window_k[e]), window = the last d_conv inputs. */
	void (*conv_silu)(float *xc, const float *win, const float *xnew, const float *w,
	                  const float *b, int K, int E);
	void (*softplus)(float *v, int n);
	void (*gelu)(float *v, int n);
	/* h = exp(dt*A)*h + (dt*x)*B; y = (C.h + D*x) * silu(z). */
	void (*scan)(float *y, float *h, const float *A, const float *dt, const float *x,
	             const float *B, const float *C, const float *D, const float *z, int S, int E);
	/* p[i] = exp(v[i] - max v), returns sum8(p); n % 8 == 0. */
	float (*softmax_exp)(float *p, const float *v, int n);
	/* q[i] = trunc(min(max(p[i] * scale, 0), 65280)); n % 8 == 0. */
	void (*quantize)(int32_t *q, const float *p, float scale, int n);
};

extern const struct boa_kernels boa_kernels_scalar;
#if defined(__x86_64__) || defined(__i386__)
#define BOA_HAVE_AVX2_KERNELS 1
extern const struct boa_kernels boa_kernels_avx2;
#endif

struct boa_model {
	struct boa_hparams hp;
	int dim, E, S, R, K, ff, xp_n, xp_pad;
	size_t params;
	uint32_t id;
	const struct boa_kernels *k;
	float *arena;
	const float *emb; /* [256][dim] */
	struct boa_layer *layer;
	const float *h1_t, *h1_b; /* [dim][dim], [dim] */
	const float *h2_t, *h2_b; /* [dim][256], [256] */
};

struct boa_stream {
	const struct boa_model *m;
	const struct boa_kernels *k;
	float *mem;
	float *conv; /* [layers][K-1][E] the last K-1 conv inputs, oldest first */
	float *h;    /* [layers][S][E] */
	float *u;    /* [dim] residual stream after the last byte */
	float *a, *xz, *xc, *dbc, *dt, *y, *mo, *f, *hh, *logits, *p;
	int32_t q[256];
	uint32_t freq[256];
	int freq_valid;
};

/* ---- the project's own float32 math: basic IEEE operations only, no libm ---- */

static inline uint32_t bm_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static inline float bm_float(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

#define BM_EXP_HI          88.0f
#define BM_EXP_LO          -87.0f
#define BM_LOG2E           1.44269504088896341f
#define BM_ROUND           12582912.0f /* 1.5 * 2^23: x + BM_ROUND - BM_ROUND rounds to an integer */
#define BM_LN2_HI          0.693359375f
#define BM_LN2_LO          -2.12194440e-4f
#define BM_EXP_C0          1.9875691500e-4f
#define BM_EXP_C1          1.3981999507e-3f
#define BM_EXP_C2          8.3334519073e-3f
#define BM_EXP_C3          4.1665795894e-2f
#define BM_EXP_C4          1.6666665459e-1f
#define BM_EXP_C5          5.0000001201e-1f
#define BM_SQRT2           1.41421356f
#define BM_GELU_K0         1.5957691216f    /* 2 * sqrt(2/pi) */
#define BM_GELU_K1         0.0713548162726f /* 2 * sqrt(2/pi) * 0.044715 */
#define BM_SOFTPLUS_LINEAR 20.0f

/* exp(x) for x clamped to [-87, 88] (Cephes' polynomial, ~2 ulp). */
static inline float bm_exp(float x)
{
	x = x < BM_EXP_HI ? x : BM_EXP_HI;
	x = x > BM_EXP_LO ? x : BM_EXP_LO;
	float t = x * BM_LOG2E;
	t = t + BM_ROUND;
	float k = t - BM_ROUND;
	float r = x - k * BM_LN2_HI;
	r = r - k * BM_LN2_LO;
	float z = r * r;
	float p = BM_EXP_C0;
	p = p * r + BM_EXP_C1;
	p = p * r + BM_EXP_C2;
	p = p * r + BM_EXP_C3;
	p = p * r + BM_EXP_C4;
	p = p * r + BM_EXP_C5;
	p = p * z;
	p = p + r;
	p = p + 1.0f;
	int32_t ki = (int32_t)(bm_bits(t) - bm_bits(BM_ROUND));
	float scale = bm_float((uint32_t)(ki + 127) << 23);
	return p * scale;
}

/* log(u) for a normal u >= 1. */
static inline float bm_log(float u)
{
	uint32_t b = bm_bits(u);
	int32_t e = (int32_t)(b >> 23) - 127;
	float m = bm_float((b & 0x7fffffu) | 0x3f800000u);
	if (m > BM_SQRT2) {
		m = m * 0.5f;
		e = e + 1;
	}
	float f = (m - 1.0f) / (m + 1.0f);
	float s = f * f;
	float p = 1.0f / 9.0f;
	p = p * s + 1.0f / 7.0f;
	p = p * s + 0.2f;
	p = p * s + 1.0f / 3.0f;
	p = p * s + 1.0f;
	float ef = (float)e;
	float lm = (f + f) * p;
	float lo = ef * BM_LN2_LO;
	lm = lm + lo;
	float hi = ef * BM_LN2_HI;
	return hi + lm;
}

/* 1/sqrt(v) for v > 0: a bit-level first guess and three Newton steps. */
static inline float bm_rsqrt(float v)
{
	float y = bm_float(0x5f3759dfu - (bm_bits(v) >> 1));
	float hv = 0.5f * v;
	for (int i = 0; i < 3; i++) {
		float t = hv * y;
		t = t * y;
		t = 1.5f - t;
		y = y * t;
	}
	return y;
}

static inline float bm_silu(float x)
{
	float e = bm_exp(-x);
	return x / (1.0f + e);
}

/* GELU, tanh form: x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)); no erf, no tanh. */
static inline float bm_gelu(float x)
{
	float a = x * x;
	a = a * BM_GELU_K1;
	a = a + BM_GELU_K0;
	a = a * x;
	float e = bm_exp(-a);
	return x / (1.0f + e);
}

/* log(1 + exp(v)); log1p through log(u) * x / (u - 1). */
static inline float bm_softplus(float v)
{
	if (v > BM_SOFTPLUS_LINEAR)
		return v;
	float ev = bm_exp(v);
	float u = 1.0f + ev;
	if (u == 1.0f)
		return ev;
	float q = ev / (u - 1.0f);
	return bm_log(u) * q;
}

/* Sum of x[0..n) (n % 8 == 0) in 8 lanes, lane j summing x[j], x[j+8], ... in order, combined
 * as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)): the order an AVX2 reduction takes. */
static inline float bm_sum8(const float *x, int n)
{
	float l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
	for (int i = 0; i < n; i += 8)
		for (int j = 0; j < 8; j++)
			l[j] = l[j] + x[i + j];
	float a = l[0] + l[4], b = l[1] + l[5], c = l[2] + l[6], d = l[3] + l[7];
	return (a + c) + (b + d);
}

#endif
