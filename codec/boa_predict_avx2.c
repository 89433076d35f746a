/* boa_predict_avx2 — level 2 of chunk format 5 (BP_KIND_A2_W16) compiled for AVX2, with
 * mix_layers16's AVX2 kernels inlined into its byte loop: no indirect call, no argument set-up
 * and no vzeroupper twice a bit. The per-bit code is boa_predict_impl.h's, the kernels those of
 * mix_mixer_impl.h: the same integers as the portable path. Compiled with -mavx2 (meson), on
 * x86 only; bp_decode_byte and bp_encode_byte call these only where mix_layers16 chose its AVX2
 * kernels, that is where the CPU has AVX2. */
#include "mix_mixer_impl.h"

#ifdef MIX_LAYERS16_AVX2
#define BP_L16_MIX   mix_layers16_mix_avx2
#define BP_L16_TRAIN mix_layers16_train_avx2
#include "boa_predict_impl.h"

void bp_decode_byte_l16_avx2(struct bp *p, struct mix_dec *d, uint8_t *out)
{
	decode_byte(p, d, out, 1, 2, BP_APM2_MATCH_C1HI, 1);
}

void bp_encode_byte_l16_avx2(struct bp *p, struct mix_enc *e, int byte)
{
	encode_byte(p, e, byte, 1, 2, BP_APM2_MATCH_C1HI, 1);
}
#endif
