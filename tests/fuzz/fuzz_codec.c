/* fuzz_codec — libFuzzer target for the block decoders: codec_decode (codec/codec.h) for raw,
 * zstd, unknown codec ids and BOA (the BOA coder's boa_ctx_decode, codec/boa.h), which turns a
 * stored payload back into a block.
 *
 * Input: a selector byte, 3 bytes of raw length, then the payload. Selector % 5: 0 raw, 1 zstd,
 * 2 a codec id no build knows, 3 BOA without a model (levels 0 and 1; others must be refused),
 * 4 BOA with the built-in "fast" model (the Mamba levels). For BOA, selector bit 7 takes the raw
 * length from the chunk header (boa_chunk_info), so that decoding gets past the length check to
 * the arithmetic decoder; the lengths are capped (256 bytes at level 1, 32 with the Mamba) to
 * keep each run short. A decoder must return 0 (and then exactly raw_len bytes, which the
 * harness checks BOA's own xxh32 for) or an error; never crash, hang, or write out of bounds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boa.h"
#include "boa_model.h"
#include "codec.h"

static struct codec *codec;
static struct boa_ctx *boa;
static struct boa_model *fast_model;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (codec_new(3, 1, &codec) || boa_ctx_new(&boa)) {
		fprintf(stderr, "fuzz_codec: cannot make decoder contexts\n");
		abort();
	}
	if (boa_model_load_builtin("fast", &fast_model))
		fast_model = NULL; /* a build without the Mamba: selector 4 tests the refusal */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t raw[(256 << 10) + 1];
	const uint8_t *payload = data + 4;
	size_t raw_len, payload_len;
	uint8_t sel;

	if (size < 4)
		return 0;
	sel = data[0];
	raw_len = ((size_t)data[1] | (size_t)data[2] << 8 | (size_t)data[3] << 16) % (sizeof(raw));
	payload_len = size - 4;
	raw[raw_len] = 0xa5; /* a guard byte: nothing may be written past raw_len */
	switch (sel % 5) {
	case 0:
		codec_decode(codec, CODEC_RAW, NULL, payload, payload_len, raw, raw_len);
		break;
	case 1:
		codec_decode(codec, CODEC_ZSTD, NULL, payload, payload_len, raw, raw_len);
		break;
	case 2:
		codec_decode(codec, (uint8_t)(CODEC_COUNT + data[1] % (256 - CODEC_COUNT)), NULL,
		             payload, payload_len, raw, raw_len);
		break;
	default: {
		const struct boa_model *m = sel % 5 == 4 ? fast_model : NULL;
		struct codec_args args = {.model = m, .boa = boa};
		size_t cap = m ? 32 : 256;
		uint64_t chunk_len;
		uint32_t model_id;
		int level;

		if (boa_chunk_info(payload, payload_len, &level, &chunk_len, &model_id) == 0 &&
		    sel & 0x80)
			raw_len = chunk_len < sizeof(raw) - 1 ? (size_t)chunk_len : 0;
		if (raw_len > cap)
			raw_len = cap;
		raw[raw_len] = 0xa5;
		codec_decode(codec, CODEC_BOA, &args, payload, payload_len, raw, raw_len);
	}
	}
	if (raw[raw_len] != 0xa5)
		abort(); /* wrote past the end of the block */
	return 0;
}
