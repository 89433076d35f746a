/* boa_model_avx2 — AVX2 kernels of the Mamba byte model.
 *
 * Each function computes every output element with exactly the operations, in the order, of
 * its scalar twin in boa_model.c (and the bm_* math of boa_model_impl.h): 8 elements at a time,
 * no FMA (the "fma" target is not enabled and -ffp-contract=off), min/max/compare operand order
 * chosen so NaN lanes behave as the scalar ternaries do. Chosen at run time by
 * __builtin_cpu_supports("avx2"); nothing here runs on a CPU without it. */
#include "boa_model_impl.h"

#ifdef BOA_HAVE_AVX2_KERNELS

#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))

static inline AVX2 __m256 v_exp(__m256 x)
{
	x = _mm256_min_ps(x, _mm256_set1_ps(BM_EXP_HI));
	x = _mm256_max_ps(x, _mm256_set1_ps(BM_EXP_LO));
	__m256 t = _mm256_mul_ps(x, _mm256_set1_ps(BM_LOG2E));
	t = _mm256_add_ps(t, _mm256_set1_ps(BM_ROUND));
	__m256 k = _mm256_sub_ps(t, _mm256_set1_ps(BM_ROUND));
	__m256 r = _mm256_sub_ps(x, _mm256_mul_ps(k, _mm256_set1_ps(BM_LN2_HI)));
	r = _mm256_sub_ps(r, _mm256_mul_ps(k, _mm256_set1_ps(BM_LN2_LO)));
	__m256 z = _mm256_mul_ps(r, r);
	__m256 p = _mm256_set1_ps(BM_EXP_C0);
	p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(BM_EXP_C1));
	p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(BM_EXP_C2));
	p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(BM_EXP_C3));
	p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(BM_EXP_C4));
	p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(BM_EXP_C5));
	p = _mm256_mul_ps(p, z);
	p = _mm256_add_ps(p, r);
	p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
	__m256i ki =
	    _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32((int)bm_bits(BM_ROUND)));
	__m256i sb = _mm256_slli_epi32(_mm256_add_epi32(ki, _mm256_set1_epi32(127)), 23);
	return _mm256_mul_ps(p, _mm256_castsi256_ps(sb));
}

static inline AVX2 __m256 v_log(__m256 u)
{
	__m256i b = _mm256_castps_si256(u);
	__m256i e = _mm256_sub_epi32(_mm256_srli_epi32(b, 23), _mm256_set1_epi32(127));
	__m256i mb = _mm256_or_si256(_mm256_and_si256(b, _mm256_set1_epi32(0x7fffff)),
	                             _mm256_set1_epi32(0x3f800000));
	__m256 m = _mm256_castsi256_ps(mb);
	__m256 big = _mm256_cmp_ps(m, _mm256_set1_ps(BM_SQRT2), _CMP_GT_OQ);
	m = _mm256_blendv_ps(m, _mm256_mul_ps(m, _mm256_set1_ps(0.5f)), big);
	e = _mm256_sub_epi32(e, _mm256_castps_si256(big));
	__m256 one = _mm256_set1_ps(1.0f);
	__m256 f = _mm256_div_ps(_mm256_sub_ps(m, one), _mm256_add_ps(m, one));
	__m256 s = _mm256_mul_ps(f, f);
	__m256 p = _mm256_set1_ps(1.0f / 9.0f);
	p = _mm256_add_ps(_mm256_mul_ps(p, s), _mm256_set1_ps(1.0f / 7.0f));
	p = _mm256_add_ps(_mm256_mul_ps(p, s), _mm256_set1_ps(0.2f));
	p = _mm256_add_ps(_mm256_mul_ps(p, s), _mm256_set1_ps(1.0f / 3.0f));
	p = _mm256_add_ps(_mm256_mul_ps(p, s), one);
	__m256 ef = _mm256_cvtepi32_ps(e);
	__m256 lm = _mm256_mul_ps(_mm256_add_ps(f, f), p);
	lm = _mm256_add_ps(lm, _mm256_mul_ps(ef, _mm256_set1_ps(BM_LN2_LO)));
	return _mm256_add_ps(_mm256_mul_ps(ef, _mm256_set1_ps(BM_LN2_HI)), lm);
}

static inline AVX2 __m256 v_neg(__m256 x)
{
	return _mm256_xor_ps(x, _mm256_set1_ps(-0.0f));
}

static inline AVX2 __m256 v_silu(__m256 x)
{
	__m256 e = v_exp(v_neg(x));
	return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

static inline AVX2 __m256 v_gelu(__m256 x)
{
	__m256 a = _mm256_mul_ps(x, x);
	a = _mm256_mul_ps(a, _mm256_set1_ps(BM_GELU_K1));
	a = _mm256_add_ps(a, _mm256_set1_ps(BM_GELU_K0));
	a = _mm256_mul_ps(a, x);
	__m256 e = v_exp(v_neg(a));
	return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

static inline AVX2 __m256 v_softplus(__m256 v)
{
	__m256 one = _mm256_set1_ps(1.0f);
	__m256 ev = v_exp(v);
	__m256 u = _mm256_add_ps(one, ev);
	__m256 q = _mm256_div_ps(ev, _mm256_sub_ps(u, one));
	__m256 r = _mm256_mul_ps(v_log(u), q);
	r = _mm256_blendv_ps(r, ev, _mm256_cmp_ps(u, one, _CMP_EQ_OQ));
	return _mm256_blendv_ps(r, v,
	                        _mm256_cmp_ps(v, _mm256_set1_ps(BM_SOFTPLUS_LINEAR), _CMP_GT_OQ));
}

/* bm_sum8's lane order. */
static inline AVX2 float v_hsum(__m256 acc)
{
	__m128 v = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
	v = _mm_add_ps(v, _mm_movehl_ps(v, v));
	v = _mm_add_ss(v, _mm_shuffle_ps(v, v, 1));
	return _mm_cvtss_f32(v);
}

static AVX2 float sum8_avx2(const float *x, int n)
{
	__m256 acc = _mm256_setzero_ps();
	for (int i = 0; i < n; i += 8)
		acc = _mm256_add_ps(acc, _mm256_loadu_ps(x + i));
	return v_hsum(acc);
}

static AVX2 void matvec_avx2(float *out, const float *wt, const float *in, int nin, int nout,
                             const float *bias)
{
	int o = 0;

	for (; o + 64 <= nout; o += 64) {
		__m256 a0, a1, a2, a3, a4, a5, a6, a7;
		if (bias) {
			a0 = _mm256_loadu_ps(bias + o);
			a1 = _mm256_loadu_ps(bias + o + 8);
			a2 = _mm256_loadu_ps(bias + o + 16);
			a3 = _mm256_loadu_ps(bias + o + 24);
			a4 = _mm256_loadu_ps(bias + o + 32);
			a5 = _mm256_loadu_ps(bias + o + 40);
			a6 = _mm256_loadu_ps(bias + o + 48);
			a7 = _mm256_loadu_ps(bias + o + 56);
		} else {
			a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = _mm256_setzero_ps();
		}
		const float *w = wt + o;
		for (int i = 0; i < nin; i++, w += nout) {
			__m256 x = _mm256_set1_ps(in[i]);
			a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(w), x));
			a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(w + 8), x));
			a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_loadu_ps(w + 16), x));
			a3 = _mm256_add_ps(a3, _mm256_mul_ps(_mm256_loadu_ps(w + 24), x));
			a4 = _mm256_add_ps(a4, _mm256_mul_ps(_mm256_loadu_ps(w + 32), x));
			a5 = _mm256_add_ps(a5, _mm256_mul_ps(_mm256_loadu_ps(w + 40), x));
			a6 = _mm256_add_ps(a6, _mm256_mul_ps(_mm256_loadu_ps(w + 48), x));
			a7 = _mm256_add_ps(a7, _mm256_mul_ps(_mm256_loadu_ps(w + 56), x));
		}
		_mm256_storeu_ps(out + o, a0);
		_mm256_storeu_ps(out + o + 8, a1);
		_mm256_storeu_ps(out + o + 16, a2);
		_mm256_storeu_ps(out + o + 24, a3);
		_mm256_storeu_ps(out + o + 32, a4);
		_mm256_storeu_ps(out + o + 40, a5);
		_mm256_storeu_ps(out + o + 48, a6);
		_mm256_storeu_ps(out + o + 56, a7);
	}
	for (; o + 32 <= nout; o += 32) {
		__m256 a0, a1, a2, a3;
		if (bias) {
			a0 = _mm256_loadu_ps(bias + o);
			a1 = _mm256_loadu_ps(bias + o + 8);
			a2 = _mm256_loadu_ps(bias + o + 16);
			a3 = _mm256_loadu_ps(bias + o + 24);
		} else {
			a0 = a1 = a2 = a3 = _mm256_setzero_ps();
		}
		const float *w = wt + o;
		for (int i = 0; i < nin; i++, w += nout) {
			__m256 x = _mm256_set1_ps(in[i]);
			a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(w), x));
			a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(w + 8), x));
			a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_loadu_ps(w + 16), x));
			a3 = _mm256_add_ps(a3, _mm256_mul_ps(_mm256_loadu_ps(w + 24), x));
		}
		_mm256_storeu_ps(out + o, a0);
		_mm256_storeu_ps(out + o + 8, a1);
		_mm256_storeu_ps(out + o + 16, a2);
		_mm256_storeu_ps(out + o + 24, a3);
	}
	for (; o < nout; o += 8) {
		__m256 a0 = bias ? _mm256_loadu_ps(bias + o) : _mm256_setzero_ps();
		const float *w = wt + o;
		for (int i = 0; i < nin; i++, w += nout)
			a0 = _mm256_add_ps(
			    a0, _mm256_mul_ps(_mm256_loadu_ps(w), _mm256_set1_ps(in[i])));
		_mm256_storeu_ps(out + o, a0);
	}
}

/* Columns o..o+8*NC-1 of NB streams: every weight chunk loaded once and applied to each
 * stream's own accumulator (mul, then add, in order of i: matvec's operations). NB and NC are
 * constants where it is inlined, so the accumulators stay in registers (NB*NC <= 8). */
static inline __attribute__((always_inline)) AVX2 void
matmat_tile(float *const *out, const float *wt, const float *const *in, int nin, int nout,
            const float *bias, int o, const int NB, const int NC)
{
	__m256 acc[4][2], w[2];

#pragma GCC unroll 4
	for (int j = 0; j < NB; j++)
#pragma GCC unroll 2
		for (int c = 0; c < NC; c++)
			acc[j][c] = bias ? _mm256_loadu_ps(bias + o + 8 * c) : _mm256_setzero_ps();
	const float *wp = wt + o;
	for (int i = 0; i < nin; i++, wp += nout) {
#pragma GCC unroll 2
		for (int c = 0; c < NC; c++)
			w[c] = _mm256_loadu_ps(wp + 8 * c);
#pragma GCC unroll 4
		for (int j = 0; j < NB; j++) {
			__m256 x = _mm256_set1_ps(in[j][i]);
#pragma GCC unroll 2
			for (int c = 0; c < NC; c++)
				acc[j][c] = _mm256_add_ps(acc[j][c], _mm256_mul_ps(w[c], x));
		}
	}
#pragma GCC unroll 4
	for (int j = 0; j < NB; j++)
#pragma GCC unroll 2
		for (int c = 0; c < NC; c++)
			_mm256_storeu_ps(out[j] + o + 8 * c, acc[j][c]);
}

/* Columns o..o+8*NC-1 of all n streams: groups of 4, then the 1 to 3 left over. */
static inline __attribute__((always_inline)) AVX2 void
matmat_columns(float *const *out, const float *wt, const float *const *in, int nin, int nout,
               const float *bias, int o, int n, const int NC)
{
	int j;

	for (j = 0; j + 4 <= n; j += 4)
		matmat_tile(out + j, wt, in + j, nin, nout, bias, o, 4, NC);
	if (n - j == 3)
		matmat_tile(out + j, wt, in + j, nin, nout, bias, o, 3, NC);
	else if (n - j == 2)
		matmat_tile(out + j, wt, in + j, nin, nout, bias, o, 2, NC);
	else if (n - j == 1)
		matmat_tile(out + j, wt, in + j, nin, nout, bias, o, 1, NC);
}

/* Column blocks outermost, so a block of weights (nin x 16 floats) stays in L1 while it goes
 * to every group of up to 4 streams. */
static AVX2 void matmat_avx2(float *const *out, const float *wt, const float *const *in, int nin,
                             int nout, const float *bias, int n)
{
	int o = 0;

	if (n == 1) {
		matvec_avx2(out[0], wt, in[0], nin, nout, bias);
		return;
	}
	for (; o + 16 <= nout; o += 16)
		matmat_columns(out, wt, in, nin, nout, bias, o, n, 2);
	if (o < nout) /* nout % 16 == 8 */
		matmat_columns(out, wt, in, nin, nout, bias, o, n, 1);
}

static AVX2 void layernorm_avx2(float *y, const float *x, const float *g, const float *b, int n)
{
	float mean = sum8_avx2(x, n) / (float)n;
	__m256 vm = _mm256_set1_ps(mean);
	__m256 acc = _mm256_setzero_ps();
	for (int i = 0; i < n; i += 8) {
		__m256 c = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm);
		acc = _mm256_add_ps(acc, _mm256_mul_ps(c, c));
	}
	float var = v_hsum(acc) / (float)n;
	__m256 rstd = _mm256_set1_ps(bm_rsqrt(var + 1e-5f));
	for (int i = 0; i < n; i += 8) {
		__m256 c = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm);
		c = _mm256_mul_ps(c, rstd);
		c = _mm256_mul_ps(c, _mm256_loadu_ps(g + i));
		_mm256_storeu_ps(y + i, _mm256_add_ps(c, _mm256_loadu_ps(b + i)));
	}
}

static AVX2 void conv_silu_avx2(float *xc, const float *win, const float *xnew, const float *w,
                                const float *b, int K, int E)
{
	for (int e = 0; e < E; e += 8) {
		__m256 acc = _mm256_loadu_ps(b + e);
		for (int k = 0; k < K - 1; k++)
			acc = _mm256_add_ps(
			    acc, _mm256_mul_ps(_mm256_loadu_ps(w + (size_t)k * E + e),
			                       _mm256_loadu_ps(win + (size_t)k * E + e)));
		acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(w + (size_t)(K - 1) * E + e),
		                                       _mm256_loadu_ps(xnew + e)));
		_mm256_storeu_ps(xc + e, v_silu(acc));
	}
}

static AVX2 void softplus_avx2(float *v, int n)
{
	for (int i = 0; i < n; i += 8)
		_mm256_storeu_ps(v + i, v_softplus(_mm256_loadu_ps(v + i)));
}

static AVX2 void gelu_avx2(float *v, int n)
{
	for (int i = 0; i < n; i += 8)
		_mm256_storeu_ps(v + i, v_gelu(_mm256_loadu_ps(v + i)));
}

static AVX2 void scan_avx2(float *y, float *h, const float *A, const float *dt, const float *x,
                           const float *B, const float *C, const float *D, const float *z, int S,
                           int E)
{
	for (int e = 0; e < E; e += 8) {
		__m256 vdt = _mm256_loadu_ps(dt + e), vx = _mm256_loadu_ps(x + e);
		__m256 dtx = _mm256_mul_ps(vdt, vx), acc = _mm256_setzero_ps();
		for (int s = 0; s < S; s++) {
			float *hp = h + (size_t)s * E + e;
			__m256 da =
			    v_exp(_mm256_mul_ps(vdt, _mm256_loadu_ps(A + (size_t)s * E + e)));
			__m256 hv = _mm256_mul_ps(da, _mm256_loadu_ps(hp));
			hv = _mm256_add_ps(hv, _mm256_mul_ps(dtx, _mm256_set1_ps(B[s])));
			_mm256_storeu_ps(hp, hv);
			acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_set1_ps(C[s]), hv));
		}
		acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(D + e), vx));
		_mm256_storeu_ps(y + e, _mm256_mul_ps(acc, v_silu(_mm256_loadu_ps(z + e))));
	}
}

static AVX2 float softmax_exp_avx2(float *p, const float *v, int n)
{
	float mx = v[0];
	for (int i = 1; i < n; i++)
		mx = v[i] > mx ? v[i] : mx;
	__m256 vm = _mm256_set1_ps(mx), acc = _mm256_setzero_ps();
	for (int i = 0; i < n; i += 8) {
		__m256 e = v_exp(_mm256_sub_ps(_mm256_loadu_ps(v + i), vm));
		_mm256_storeu_ps(p + i, e);
		acc = _mm256_add_ps(acc, e);
	}
	return v_hsum(acc);
}

static AVX2 void quantize_avx2(int32_t *q, const float *p, float scale, int n)
{
	__m256 vs = _mm256_set1_ps(scale), hi = _mm256_set1_ps(65280.0f),
	       zero = _mm256_setzero_ps();
	for (int i = 0; i < n; i += 8) {
		__m256 a = _mm256_mul_ps(_mm256_loadu_ps(p + i), vs);
		a = _mm256_min_ps(a, hi);
		a = _mm256_max_ps(a, zero);
		_mm256_storeu_si256((__m256i *)(q + i), _mm256_cvttps_epi32(a));
	}
}

const struct boa_kernels boa_kernels_avx2 = {
    .name = "avx2",
    .matvec = matvec_avx2,
    .matmat = matmat_avx2,
    .layernorm = layernorm_avx2,
    .conv_silu = conv_silu_avx2,
    .softplus = softplus_avx2,
    .gelu = gelu_avx2,
    .scan = scan_avx2,
    .softmax_exp = softmax_exp_avx2,
    .quantize = quantize_avx2,
};

#endif
