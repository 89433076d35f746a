/* mix_mixer_impl — mix_layers16's AVX2 kernels as inline functions, so that a caller
 * compiled for AVX2 inlines them: mix_mixer.c's kernels (mix_layers16_set_kernels "avx2") and
 * boa_predict_avx2.c's level-2 loop. Run only where __builtin_cpu_supports("avx2") said yes.
 * They give the integers of mix_mixer.c's portable kernels (test_boa checks). */
#ifndef BOAFS_MIX_MIXER_IMPL_H
#define BOAFS_MIX_MIXER_IMPL_H

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "mix_mixer.h"
#include "mix_tables.h"

#define MIX_LAYERS16_AVX2 1
#define MIX16_AVX2_INLINE                                                                          \
	__attribute__((target("avx2"))) static inline __attribute__((always_inline))

/* A mixer's stretched output from its dot product, as mix_mixer's are: >> 12, +-2047. */
static inline int32_t mix16_clamped_dot(int32_t dot)
{
	int32_t sum = dot >> 12;

	return sum > 2047 ? 2047 : sum < -2047 ? -2047 : sum;
}

/* The portable kernels' integers. The inputs are packed to 16 bits in _mm256_packs_epi32's order
 * (0-3, 8-11, 4-7, 12-15 in the first vector): the weights of a set are kept in that order too,
 * and since a reset gives every weight of a set the same value, nothing else can tell. A step is
 * _mm256_mulhrs_epi16, which is (x * e + 2^14) >> 15 exactly. */
MIX16_AVX2_INLINE int mix_layers16_mix_avx2(struct mix_layers16 *m, const int32_t *x,
                                            const int *sets, int fset)
{
	const __m256i *xv = (const __m256i *)x;
	__m256i xa = _mm256_packs_epi32(_mm256_load_si256(xv), _mm256_load_si256(xv + 1));
	__m256i xb = _mm256_packs_epi32(_mm256_load_si256(xv + 2), _mm256_load_si256(xv + 3));
	__m256i a[3], t;
	__m128i d, f;
	int32_t fdot;

	_mm256_store_si256((__m256i *)m->x, xa);
	_mm256_store_si256((__m256i *)m->x + 1, xb);
	for (int j = 0; j < 3; j++) {
		const __m256i *w =
		    (const __m256i *)(m->w[j] = m->weights[j] + (size_t)sets[j] * MIX16_INPUTS);

		a[j] = _mm256_add_epi32(_mm256_madd_epi16(xa, _mm256_load_si256(w)),
		                        _mm256_madd_epi16(xb, _mm256_load_si256(w + 1)));
	}
	/* lanes 0-2 of each half: the halves' sums of a[0], a[1], a[2] */
	t = _mm256_hadd_epi32(_mm256_hadd_epi32(a[0], a[1]), _mm256_hadd_epi32(a[2], a[2]));
	d = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
	d = _mm_srai_epi32(d, 12); /* clamped_dot in every lane */
	d = _mm_max_epi32(_mm_min_epi32(d, _mm_set1_epi32(2047)), _mm_set1_epi32(-2047));
	d = _mm_blend_epi32(d, _mm_set1_epi32(256), 8);
	_mm_store_si128((__m128i *)m->x2, d);
	m->fw = m->fweights + (size_t)fset * 4;
	f = _mm_mullo_epi32(d, _mm_load_si128((const __m128i *)m->fw));
	f = _mm_hadd_epi32(f, f);
	fdot = mix16_clamped_dot(_mm_cvtsi128_si32(_mm_hadd_epi32(f, f)));
	m->fpr = mix_squash_tab[fdot + 2048];
	m->pr[0] = mix_squash_tab[m->x2[0] + 2048];
	m->pr[1] = mix_squash_tab[m->x2[1] + 2048];
	m->pr[2] = mix_squash_tab[m->x2[2] + 2048];
	return fdot;
}

MIX16_AVX2_INLINE void mix_layers16_train_avx2(struct mix_layers16 *m, int bit, int rate)
{
	const __m256i xa = _mm256_load_si256((const __m256i *)m->x);
	const __m256i xb = _mm256_load_si256((const __m256i *)m->x + 1);
	const __m256i hi = _mm256_set1_epi16(16383), lo = _mm256_set1_epi16(-16384);
	__m128i e, v;

	for (int j = 0; j < 3; j++) {
		__m256i *w = (__m256i *)m->w[j];
		__m256i ej = _mm256_set1_epi16((int16_t)((((bit << 12) - m->pr[j]) * rate) >> 4));
		__m256i w0 = _mm256_add_epi16(_mm256_load_si256(w), _mm256_mulhrs_epi16(xa, ej));
		__m256i w1 =
		    _mm256_add_epi16(_mm256_load_si256(w + 1), _mm256_mulhrs_epi16(xb, ej));

		_mm256_store_si256(w, _mm256_max_epi16(_mm256_min_epi16(w0, hi), lo));
		_mm256_store_si256(w + 1, _mm256_max_epi16(_mm256_min_epi16(w1, hi), lo));
	}
	e = _mm_set1_epi32((((bit << 12) - m->fpr) * rate) >> 4);
	v = _mm_srai_epi32(_mm_add_epi32(_mm_mullo_epi32(_mm_load_si128((const __m128i *)m->x2), e),
	                                 _mm_set1_epi32(16384)),
	                   15);
	v = _mm_add_epi32(_mm_load_si128((const __m128i *)m->fw), v);
	v = _mm_max_epi32(_mm_min_epi32(v, _mm_set1_epi32(16383)), _mm_set1_epi32(-16384));
	_mm_store_si128((__m128i *)m->fw, v);
}
#endif
#endif
