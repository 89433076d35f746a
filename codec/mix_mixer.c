#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mix_mixer_impl.h"
#include "mix_mem.h"
#include "mix_mixer.h"

typedef int32_t mix_v8 __attribute__((vector_size(32), aligned(32)));

/* *w = *v clamped to +-MIX_W_MAX, by masks (any CPU) or by min/max (AVX2): the same integers.
 * (Pointers: a vector passed by value would change the ABI of the portable build.) */
static inline void store_clamped_portable(mix_v8 *w, const mix_v8 *vp)
{
	mix_v8 v = *vp;
	const mix_v8 hi = {MIX_W_MAX, MIX_W_MAX, MIX_W_MAX, MIX_W_MAX,
	                   MIX_W_MAX, MIX_W_MAX, MIX_W_MAX, MIX_W_MAX};
	mix_v8 over = v > hi, under = v < -hi;

	v = (v & ~over) | (hi & over);
	*w = (v & ~under) | (-hi & under);
}

/* A mixer's outputs from its dot product. */
static inline void mixer_out(struct mix_mixer *m, int32_t dot)
{
	int32_t sum = dot >> 12;

	m->dot = sum > 2047 ? 2047 : sum < -2047 ? -2047 : sum;
	m->pr = mix_squash(m->dot);
}

/* One body, compiled twice: for AVX2 and for any x86-64 (or other) CPU. Integer lanes, so the
 * results are the same bits either way. |x| < 2^11 and |w >> 4| < 2^14: with at most 64 inputs
 * no lane of the dot product overflows; |x * err| < 2^11 * 2^12 * 2^7 for rates below 128.
 * The bodies are inlined into one function per vector count the level table uses (3 and 5
 * vectors: the loops unrolled with a constant count) and one for any count. */
#define MIX_KERNELS(SUFFIX, ATTR)                                                                  \
	ATTR static inline __attribute__((always_inline))                                          \
	int32_t dot_body_##SUFFIX(const int32_t *x, const int32_t *w, int n)                       \
	{                                                                                          \
		const mix_v8 *xv = (const mix_v8 *)x, *wv = (const mix_v8 *)w;                     \
		mix_v8 acc = {0};                                                                  \
		int32_t sum = 0;                                                                   \
                                                                                                   \
		for (int i = 0; i < n / 8; i++)                                                    \
			acc += xv[i] * (wv[i] >> 4);                                               \
		for (int k = 0; k < 8; k++)                                                        \
			sum += acc[k];                                                             \
		return sum;                                                                        \
	}                                                                                          \
	ATTR static inline __attribute__((always_inline)) void train_body_##SUFFIX(                \
	    const int32_t *x, int32_t *w, int n, int32_t err, int shift)                           \
	{                                                                                          \
		const mix_v8 *xv = (const mix_v8 *)x;                                              \
		mix_v8 *wv = (mix_v8 *)w;                                                          \
		mix_v8 errv = {err, err, err, err, err, err, err, err};                            \
                                                                                                   \
		for (int i = 0; i < n / 8; i++) {                                                  \
			mix_v8 v = wv[i] + ((xv[i] * errv) >> shift);                              \
                                                                                                   \
			store_clamped_##SUFFIX(&wv[i], &v);                                        \
		}                                                                                  \
	}                                                                                          \
	/* Three mixers over the same inputs (a weight set each), the inputs read once: the sums   \
	 * and steps of dot/train above, so the same integers. */                                  \
	ATTR static inline __attribute__((always_inline)) void dot3_body_##SUFFIX(                 \
	    const int32_t *x, int32_t *const *w, int n, int32_t *out)                              \
	{                                                                                          \
		const mix_v8 *xv = (const mix_v8 *)x, *w0 = (const mix_v8 *)w[0],                  \
		             *w1 = (const mix_v8 *)w[1], *w2 = (const mix_v8 *)w[2];               \
		mix_v8 a0 = {0}, a1 = {0}, a2 = {0};                                               \
                                                                                                   \
		for (int i = 0; i < n / 8; i++) {                                                  \
			a0 += xv[i] * (w0[i] >> 4);                                                \
			a1 += xv[i] * (w1[i] >> 4);                                                \
			a2 += xv[i] * (w2[i] >> 4);                                                \
		}                                                                                  \
		out[0] = out[1] = out[2] = 0;                                                      \
		for (int k = 0; k < 8; k++) {                                                      \
			out[0] += a0[k];                                                           \
			out[1] += a1[k];                                                           \
			out[2] += a2[k];                                                           \
		}                                                                                  \
	}                                                                                          \
	ATTR static inline __attribute__((always_inline)) void train3_body_##SUFFIX(               \
	    const int32_t *x, int32_t *const *w, int n, const int32_t *err, int shift)             \
	{                                                                                          \
		const mix_v8 *xv = (const mix_v8 *)x;                                              \
		mix_v8 *w0 = (mix_v8 *)w[0], *w1 = (mix_v8 *)w[1], *w2 = (mix_v8 *)w[2];           \
		mix_v8 e0 = {err[0], err[0], err[0], err[0], err[0], err[0], err[0], err[0]};      \
		mix_v8 e1 = {err[1], err[1], err[1], err[1], err[1], err[1], err[1], err[1]};      \
		mix_v8 e2 = {err[2], err[2], err[2], err[2], err[2], err[2], err[2], err[2]};      \
                                                                                                   \
		for (int i = 0; i < n / 8; i++) {                                                  \
			mix_v8 v0 = w0[i] + ((xv[i] * e0) >> shift);                               \
			mix_v8 v1 = w1[i] + ((xv[i] * e1) >> shift);                               \
			mix_v8 v2 = w2[i] + ((xv[i] * e2) >> shift);                               \
                                                                                                   \
			store_clamped_##SUFFIX(&w0[i], &v0);                                       \
			store_clamped_##SUFFIX(&w1[i], &v1);                                       \
			store_clamped_##SUFFIX(&w2[i], &v2);                                       \
		}                                                                                  \
	}

/* The kernels for each vector count (after the bodies and first_layer_SUFFIX). */
#define MIX_SIZES(SUFFIX, ATTR)                                                                    \
	MIX_SIZED(SUFFIX, ATTR, any, n)                                                            \
	MIX_SIZED(SUFFIX, ATTR, 24, 24)                                                            \
	MIX_SIZED(SUFFIX, ATTR, 40, 40)

#define MIX_SIZED(SUFFIX, ATTR, NAME, N)                                                           \
	ATTR static int32_t dot_##SUFFIX##_##NAME(const int32_t *x, const int32_t *w, int n)       \
	{                                                                                          \
		(void)n;                                                                           \
		return dot_body_##SUFFIX(x, w, N);                                                 \
	}                                                                                          \
	ATTR static void train_##SUFFIX##_##NAME(const int32_t *x, int32_t *w, int n, int32_t err, \
	                                         int shift)                                        \
	{                                                                                          \
		(void)n;                                                                           \
		train_body_##SUFFIX(x, w, N, err, shift);                                          \
	}                                                                                          \
	ATTR static void dot3_##SUFFIX##_##NAME(const int32_t *x, int32_t *const *w, int n,        \
	                                        int32_t *out)                                      \
	{                                                                                          \
		(void)n;                                                                           \
		dot3_body_##SUFFIX(x, w, N, out);                                                  \
	}                                                                                          \
	ATTR static void train3_##SUFFIX##_##NAME(const int32_t *x, int32_t *const *w, int n,      \
	                                          const int32_t *err, int shift)                   \
	{                                                                                          \
		(void)n;                                                                           \
		train3_body_##SUFFIX(x, w, N, err, shift);                                         \
	}                                                                                          \
	/* The two layers of levels 1-4 (mix_mixers3_layers_mix). */                               \
	ATTR static int layers_mix_##SUFFIX##_##NAME(struct mix_mixer *m, struct mix_mixer *f,     \
	                                             const int32_t *x, const int *sets, int fset,  \
	                                             int32_t *x2)                                  \
	{                                                                                          \
		int n = m->stride;                                                                 \
		int32_t *w[3];                                                                     \
                                                                                                   \
		(void)n;                                                                           \
		w[0] = m[0].w = m[0].weights + (int64_t)sets[0] * N;                               \
		w[1] = m[1].w = m[1].weights + (int64_t)sets[1] * N;                               \
		w[2] = m[2].w = m[2].weights + (int64_t)sets[2] * N;                               \
		{ /* x2 built in a register: a vector load of four fresh scalar stores would       \
		   * wait for them (no store forwarding) */                                        \
			mix_v8 v2;                                                                 \
                                                                                                   \
			first_layer_##SUFFIX(m, x, w, N, &v2);                                     \
			f->w = f->weights + (int64_t)fset * 8;                                     \
			*(mix_v8 *)x2 = v2;                                                        \
			mixer_out(f, final_dot_##SUFFIX(&v2, f->w));                               \
		}                                                                                  \
		return f->pr;                                                                      \
	}                                                                                          \
	ATTR static void layers_train_##SUFFIX##_##NAME(struct mix_mixer *m, struct mix_mixer *f,  \
	                                                const int32_t *x, const int32_t *x2,       \
	                                                int bit, int rate)                         \
	{                                                                                          \
		int n = m->stride;                                                                 \
		int32_t *w[3] = {m[0].w, m[1].w, m[2].w};                                          \
		int32_t err[3] = {((bit << 12) - m[0].pr) * rate, ((bit << 12) - m[1].pr) * rate,  \
		                  ((bit << 12) - m[2].pr) * rate};                                 \
                                                                                                   \
		(void)n;                                                                           \
		train3_body_##SUFFIX(x, w, N, err, m->lr_shift);                                   \
		train_body_##SUFFIX(x2, f->w, 8, ((bit << 12) - f->pr) * rate, f->lr_shift);       \
	}

MIX_KERNELS(portable, )
/* The first layer of layers_mix: the three mixers' outputs, and the second layer's inputs
 * {dot0, dot1, dot2, 256, 0...}. */
static inline __attribute__((always_inline)) void
first_layer_portable(struct mix_mixer *m, const int32_t *x, int32_t *const *w, int n, mix_v8 *v2)
{
	int32_t dot[3];

	dot3_body_portable(x, w, n, dot);
	mixer_out(&m[0], dot[0]);
	mixer_out(&m[1], dot[1]);
	mixer_out(&m[2], dot[2]);
	*v2 = (mix_v8){m[0].dot, m[1].dot, m[2].dot, 256, 0, 0, 0, 0};
}

/* The second layer's dot product, of inputs v2 and weights w (8 lanes). */
static inline __attribute__((always_inline)) int32_t final_dot_portable(const mix_v8 *v2,
                                                                        const int32_t *w)
{
	mix_v8 acc = *v2 * (*(const mix_v8 *)w >> 4);
	int32_t sum = 0;

	for (int k = 0; k < 8; k++)
		sum += acc[k];
	return sum;
}
MIX_SIZES(portable, )
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MIX_HAVE_AVX2 1
__attribute__((target("avx2"))) static inline void store_clamped_avx2(mix_v8 *w, const mix_v8 *v)
{
	const __m256i hi = _mm256_set1_epi32(MIX_W_MAX);

	*w = (mix_v8)_mm256_max_epi32(_mm256_min_epi32((__m256i)*v, hi),
	                              _mm256_sub_epi32(_mm256_setzero_si256(), hi));
}
/* first_layer_portable's integers, the three sums reduced together and clamped in one vector
 * (integer sums: the order of the additions changes nothing). */
MIX_KERNELS(avx2, __attribute__((target("avx2"))))
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void
first_layer_avx2(struct mix_mixer *m, const int32_t *x, int32_t *const *w, int n, mix_v8 *v2)
{
	const mix_v8 *xv = (const mix_v8 *)x, *w0 = (const mix_v8 *)w[0],
	             *w1 = (const mix_v8 *)w[1], *w2 = (const mix_v8 *)w[2];
	mix_v8 a0 = {0}, a1 = {0}, a2 = {0};
	__m256i t;
	__m128i d;

	for (int i = 0; i < n / 8; i++) {
		a0 += xv[i] * (w0[i] >> 4);
		a1 += xv[i] * (w1[i] >> 4);
		a2 += xv[i] * (w2[i] >> 4);
	}
	/* lanes 0-2 of each half: the halves' sums of a0, a1, a2 */
	t = _mm256_hadd_epi32(_mm256_hadd_epi32((__m256i)a0, (__m256i)a1),
	                      _mm256_hadd_epi32((__m256i)a2, (__m256i)a2));
	d = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
	d = _mm_srai_epi32(d, 12); /* mixer_out's clamp, in every lane */
	d = _mm_max_epi32(_mm_min_epi32(d, _mm_set1_epi32(2047)), _mm_set1_epi32(-2047));
	m[0].dot = _mm_cvtsi128_si32(d);
	m[1].dot = _mm_extract_epi32(d, 1);
	m[2].dot = _mm_extract_epi32(d, 2);
	m[0].pr = mix_squash_tab[m[0].dot + 2048];
	m[1].pr = mix_squash_tab[m[1].dot + 2048];
	m[2].pr = mix_squash_tab[m[2].dot + 2048];
	d = _mm_blend_epi32(d, _mm_set1_epi32(256), 8);
	*v2 = (mix_v8)_mm256_zextsi128_si256(d);
}

/* final_dot_portable over lanes 0-3 alone: lanes 4-7 of v2 are 0 (the same sum). */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) int32_t
final_dot_avx2(const mix_v8 *v2, const int32_t *w)
{
	__m128i p = _mm_mullo_epi32(_mm256_castsi256_si128((__m256i)*v2),
	                            _mm_srai_epi32(_mm_load_si128((const __m128i *)w), 4));

	p = _mm_hadd_epi32(p, p);
	return _mm_cvtsi128_si32(_mm_hadd_epi32(p, p));
}
MIX_SIZES(avx2, __attribute__((target("avx2"))))
#endif

/* The kernels of one build variant for `stride` inputs. */
#define MIX_PICK(m, SUFFIX)                                                                        \
	do {                                                                                       \
		if ((m)->stride == 24) {                                                           \
			MIX_SET(m, SUFFIX, 24);                                                    \
		} else if ((m)->stride == 40) {                                                    \
			MIX_SET(m, SUFFIX, 40);                                                    \
		} else {                                                                           \
			MIX_SET(m, SUFFIX, any);                                                   \
		}                                                                                  \
	} while (0)
#define MIX_SET(m, SUFFIX, NAME)                                                                   \
	do {                                                                                       \
		(m)->dot_fn = dot_##SUFFIX##_##NAME;                                               \
		(m)->train_fn = train_##SUFFIX##_##NAME;                                           \
		(m)->dot3_fn = dot3_##SUFFIX##_##NAME;                                             \
		(m)->train3_fn = train3_##SUFFIX##_##NAME;                                         \
		(m)->layers_mix_fn = layers_mix_##SUFFIX##_##NAME;                                 \
		(m)->layers_train_fn = layers_train_##SUFFIX##_##NAME;                             \
	} while (0)

int mix_mixer_new(struct mix_mixer *m, int n, int nsets, int32_t init_weight, int lr_shift)
{
	m->n = n;
	m->nsets = nsets;
	m->init_weight = init_weight;
	m->lr_shift = lr_shift;
	m->stride = (n + 7) & ~7;
	MIX_PICK(m, portable);
#ifdef MIX_HAVE_AVX2
	if (__builtin_cpu_supports("avx2"))
		MIX_PICK(m, avx2);
#endif
	m->weights = aligned_alloc(32, sizeof(*m->weights) * (size_t)m->stride * (size_t)nsets);
	if (!m->weights)
		return -ENOMEM;
	mix_mixer_reset(m);
	return 0;
}

int mix_mixer_set_kernels(struct mix_mixer *m, const char *name)
{
	if (!strcmp(name, "portable")) {
		MIX_PICK(m, portable);
		return 0;
	}
#ifdef MIX_HAVE_AVX2
	if (!strcmp(name, "avx2") && __builtin_cpu_supports("avx2")) {
		MIX_PICK(m, avx2);
		return 0;
	}
#endif
	return -ENOTSUP;
}

void mix_mixer_free(struct mix_mixer *m)
{
	free(m->weights);
	m->weights = NULL;
}

void mix_mixer_reset(struct mix_mixer *m)
{
	for (int i = 0; i < m->stride; i++)
		m->weights[i] = i < m->n ? m->init_weight : 0;
	for (size_t done = 1, total = (size_t)m->nsets; done < total; done *= 2) {
		size_t n = done < total - done ? done : total - done;

		memcpy(m->weights + done * (size_t)m->stride, m->weights,
		       n * (size_t)m->stride * sizeof(*m->weights));
	}
	m->w = m->weights;
	m->dot = 0;
	m->pr = 2048;
}

int mix_apm_new(struct mix_apm *a, int nctx, int rate)
{
	a->nctx = nctx;
	a->rate = rate;
	a->t = mix_table_alloc(sizeof(*a->t) * (size_t)nctx * 33);
	if (!a->t)
		return -ENOMEM;
	mix_apm_reset(a);
	return 0;
}

void mix_apm_free(struct mix_apm *a)
{
	free(a->t);
	a->t = NULL;
}

void mix_apm_reset(struct mix_apm *a)
{
	for (int j = 0; j < 33; j++) {
		int p = mix_squash((j - 16) * 128) * 16;

		a->t[j] = (uint16_t)(p > 65535 ? 65535 : p);
	}
	/* the other contexts start alike: copy in doubling runs */
	for (size_t done = 1, total = (size_t)a->nctx; done < total; done *= 2) {
		size_t n = done < total - done ? done : total - done;

		memcpy(a->t + done * 33, a->t, n * 33 * sizeof(*a->t));
	}
	a->cell = a->t;
}

void mix_mixers3_mix(struct mix_mixer *m, const int32_t *x, const int *sets)
{
	int32_t *w[3], dot[3];

	/* unrolled by hand: a -O2 build kept the loops over j */
	w[0] = m[0].w = m[0].weights + (int64_t)sets[0] * m[0].stride;
	w[1] = m[1].w = m[1].weights + (int64_t)sets[1] * m[1].stride;
	w[2] = m[2].w = m[2].weights + (int64_t)sets[2] * m[2].stride;
	m->dot3_fn(x, w, m->stride, dot);
	mixer_out(&m[0], dot[0]);
	mixer_out(&m[1], dot[1]);
	mixer_out(&m[2], dot[2]);
}

void mix_mixers3_update(struct mix_mixer *m, const int32_t *x, int bit, int rate)
{
	int32_t *w[3] = {m[0].w, m[1].w, m[2].w};
	int32_t err[3] = {((bit << 12) - m[0].pr) * rate, ((bit << 12) - m[1].pr) * rate,
	                  ((bit << 12) - m[2].pr) * rate};

	m->train3_fn(x, w, m->stride, err, m->lr_shift);
}

/* mix_layers16: a weight stays in -16384..16383 (mix_mixer's +-MIX_W_MAX >> 4). */
static inline int32_t clamp16(int32_t v)
{
	return v > 16383 ? 16383 : v < -16384 ? -16384 : v;
}

/* mixer_out's outputs of a 16-bit layer's dot product (the same clamp, the same table). */
static inline int32_t clamped_dot(int32_t dot)
{
	int32_t sum = dot >> 12;

	return sum > 2047 ? 2047 : sum < -2047 ? -2047 : sum;
}

/* |x| < 2^11 (stretched values and a bias of 256) fits int16 as it is; |x * w| < 2^25 and
 * the sums of at most 32 products stay below 2^30. A step: |x * e| < 2^11 * 2^14 (e =
 * (err * rate) >> 4 with |err| < 2^12 and rate <= 64). */
static int layers16_mix_portable(struct mix_layers16 *m, const int32_t *x, const int *sets,
                                 int fset)
{
	int32_t fdot = 0;

	for (int i = 0; i < MIX16_INPUTS; i++)
		m->x[i] = (int16_t)x[i];
	for (int j = 0; j < 3; j++) {
		int32_t dot = 0;

		m->w[j] = m->weights[j] + (size_t)sets[j] * MIX16_INPUTS;
		for (int i = 0; i < MIX16_INPUTS; i++)
			dot += m->x[i] * m->w[j][i];
		m->x2[j] = clamped_dot(dot);
		m->pr[j] = mix_squash_tab[m->x2[j] + 2048];
	}
	m->x2[3] = 256;
	m->fw = m->fweights + (size_t)fset * 4;
	for (int i = 0; i < 4; i++)
		fdot += m->x2[i] * m->fw[i];
	fdot = clamped_dot(fdot);
	m->fpr = mix_squash_tab[fdot + 2048];
	return fdot;
}

static void layers16_train_portable(struct mix_layers16 *m, int bit, int rate)
{
	int32_t e;

	for (int j = 0; j < 3; j++) {
		e = (((bit << 12) - m->pr[j]) * rate) >> 4;
		for (int i = 0; i < MIX16_INPUTS; i++)
			m->w[j][i] = (int16_t)clamp16(m->w[j][i] + ((m->x[i] * e + 16384) >> 15));
	}
	e = (((bit << 12) - m->fpr) * rate) >> 4;
	for (int i = 0; i < 4; i++)
		m->fw[i] = clamp16(m->fw[i] + ((m->x2[i] * e + 16384) >> 15));
}

#ifdef MIX_LAYERS16_AVX2
__attribute__((target("avx2"))) static int
layers16_mix_avx2(struct mix_layers16 *m, const int32_t *x, const int *sets, int fset)
{
	return mix_layers16_mix_avx2(m, x, sets, fset);
}

__attribute__((target("avx2"))) static void layers16_train_avx2(struct mix_layers16 *m, int bit,
                                                                int rate)
{
	mix_layers16_train_avx2(m, bit, rate);
}
#endif

int mix_layers16_set_kernels(struct mix_layers16 *m, const char *name)
{
	if (!strcmp(name, "portable")) {
		m->mix_fn = layers16_mix_portable;
		m->train_fn = layers16_train_portable;
		m->avx2 = 0;
		return 0;
	}
#ifdef MIX_LAYERS16_AVX2
	if (!strcmp(name, "avx2") && __builtin_cpu_supports("avx2")) {
		m->mix_fn = layers16_mix_avx2;
		m->train_fn = layers16_train_avx2;
		m->avx2 = 1;
		return 0;
	}
#endif
	return -ENOTSUP;
}

int mix_layers16_new(struct mix_layers16 *m, int n, const int *nsets, int fsets, int init,
                     int finit)
{
	memset(m, 0, sizeof(*m));
	if (n < 1 || n > MIX16_INPUTS)
		return -EINVAL;
	m->n = n;
	m->fsets = fsets;
	m->init = init;
	m->finit = finit;
	for (int j = 0; j < 3; j++) {
		m->nsets[j] = nsets[j];
		/* a set is one 64-byte line */
		m->weights[j] =
		    aligned_alloc(64, sizeof(int16_t) * MIX16_INPUTS * (size_t)nsets[j]);
		if (!m->weights[j])
			return -ENOMEM;
	}
	m->fweights = aligned_alloc(16, sizeof(int32_t) * 4 * (size_t)fsets);
	if (!m->fweights)
		return -ENOMEM;
	if (mix_layers16_set_kernels(m, "avx2"))
		mix_layers16_set_kernels(m, "portable");
	mix_layers16_reset(m);
	return 0;
}

void mix_layers16_free(struct mix_layers16 *m)
{
	for (int j = 0; j < 3; j++) {
		free(m->weights[j]);
		m->weights[j] = NULL;
	}
	free(m->fweights);
	m->fweights = NULL;
}

/* Every weight of a set the same, padding lanes included: their inputs are 0, so they never
 * move, add nothing, and the AVX2 kernel's order of the lanes makes no difference. */
void mix_layers16_reset(struct mix_layers16 *m)
{
	for (int j = 0; j < 3; j++) {
		for (size_t i = 0, n = (size_t)m->nsets[j] * MIX16_INPUTS; i < n; i++)
			m->weights[j][i] = (int16_t)m->init;
		m->w[j] = m->weights[j];
	}
	for (size_t i = 0, n = (size_t)m->fsets * 4; i < n; i++)
		m->fweights[i] = m->finit;
	m->fw = m->fweights;
	m->pr[0] = m->pr[1] = m->pr[2] = m->fpr = 2048;
}
