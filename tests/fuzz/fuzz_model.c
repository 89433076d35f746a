/* fuzz_model — libFuzzer target for the .boam model loader (codec/boa_model.c): a model comes
 * from `-o model=FILE`, `boa -m FILE` and the archive's models database, so it is untrusted.
 *
 * Input: a flags byte, then the model file. Flag bit 0 writes a valid XXH64 into the last 8
 * bytes and bit 1 a valid magic and version (so that the fuzzer gets past them to the
 * hyper-parameter, length and weight checks). A model that loads is run for 16 bytes (stream
 * predict/update), and its frequencies must be >= 1 and sum to 1 << BOA_PROB_BITS. Seed it with
 * a real model (run.sh does, from codec/models/fast.boam). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "boa_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct boa_model *m = NULL;
	struct boa_stream *s = NULL;
	uint8_t *bytes;
	size_t len;
	char err[256];

	if (size < 1)
		return 0;
	len = size - 1;
	bytes = malloc(len ? len : 1);
	if (!bytes)
		return 0;
	memcpy(bytes, data + 1, len);
	if (data[0] & 2 && len >= 8) {
		memcpy(bytes, "BOAM", 4);
		memcpy(bytes + 4, "\x01\x00\x00\x00", 4);
	}
	if (data[0] & 1 && len >= 8) {
		uint64_t sum = XXH64(bytes, len - 8, 0);

		for (int i = 0; i < 8; i++)
			bytes[len - 8 + i] = (uint8_t)(sum >> (8 * i));
	}
	if (boa_model_load(bytes, len, &m, err, sizeof(err)) == 0) {
		int dim, layers;
		size_t params;

		boa_model_shape(m, &dim, &layers, &params);
		(void)boa_model_id(m);
		if (boa_stream_new(m, &s) == 0) {
			for (int i = 0; i < 16; i++) {
				uint32_t freq[256], total = 0;

				boa_stream_predict(s, freq);
				for (int b = 0; b < 256; b++) {
					if (freq[b] < 1)
						abort();
					total += freq[b];
				}
				if (total != 1u << BOA_PROB_BITS)
					abort();
				boa_stream_update(s, bytes[i % len]);
			}
			boa_stream_free(s);
		}
		boa_model_free(m);
	}
	free(bytes);
	return 0;
}
