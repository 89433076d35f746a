/* libFuzzer target: the BOA chunk decoder must refuse or exactly decode whatever it is given,
 * and the encoder must round-trip whatever it is given.
 * Input: byte 0 selects the mode; bytes 1-2 (little-endian) a raw length for mode 0.
 *   mode even: the rest is a chunk; decode it to that many bytes (any result but a crash, a
 *              sanitizer report or reading/writing out of bounds is fine)
 *   mode odd:  the rest is raw data; encode it at level 1 and decode it back: must be identical
 * Built and run by tests/codec/fuzz.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One context for the whole run, as a filesystem thread keeps one: allocating the predictor's
 * tables under ASan for every input would make each run take a quarter of a second. */
static struct boa_ctx *fuzz_ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct boa_ctx *ctx;
	size_t raw_len, len, enc_len;
	uint8_t *out, *enc;

	if (size < 3 || (!fuzz_ctx && boa_ctx_new(&fuzz_ctx)))
		return 0;
	ctx = fuzz_ctx;
	raw_len = (size_t)data[1] | (size_t)data[2] << 8;
	data += 3;
	size -= 3;
	if ((data[-3] & 1) == 0) {
		out = malloc(raw_len + 1);
		if (out && boa_ctx_decode(ctx, NULL, data, size, out, raw_len) == 0) {
			/* a chunk that decodes must re-encode and decode to the same bytes */
			len = boa_bound(raw_len);
			enc = malloc(len);
			if (enc && boa_ctx_encode(ctx, NULL, 1, out, raw_len, enc, len, &enc_len))
				abort();
			free(enc);
		}
		free(out);
	} else {
		len = boa_bound(size);
		enc = malloc(len);
		out = malloc(size + 1);
		if (enc && out) {
			if (boa_ctx_encode(ctx, NULL, 1, data, size, enc, len, &enc_len))
				abort();
			if (boa_ctx_decode(ctx, NULL, enc, enc_len, out, size) ||
			    memcmp(out, data, size))
				abort();
		}
		free(enc);
		free(out);
	}
	return 0;
}
