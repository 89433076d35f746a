/* The context models of the BOA coder (codec/mix_cm.h): the code compiled for each shape of
 * context set and the generic code, the portable and the AVX2 kernels (table lines, slot
 * lookups, counter updates), give the same predictions bit for bit. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boa_predict.h"
#include "mix_cm.h"
#include "mix_tables.h"

/* Text lines of numbers, then fixed-width binary records: data on which every kind of context
 * (orders, records, text, match) finds something. */
static uint8_t *sample(size_t len)
{
	uint8_t *d = malloc(len);
	uint64_t s = 42;
	size_t i = 0;

	assert_non_null(d);
	while (i < len / 2) {
		s = s * 6364136223846793005u + 1442695040888963407u;
		i += (size_t)snprintf((char *)d + i, len / 2 - i, " %3d %+.4e %5u\n",
		                      (int)(s >> 60), (double)(s >> 40) / 1e3, (unsigned)(s >> 52));
	}
	for (; i < len; i++) {
		s = s * 6364136223846793005u + 1442695040888963407u;
		d[i] = i % 12 < 4   ? (uint8_t)(0x40 + i % 12)
		       : i % 12 < 8 ? (uint8_t)(s >> 61)
		                    : (uint8_t)(s >> 56);
	}
	return d;
}

static void test_compiled_shapes_and_kernels_predict_as_the_generic_code(void **state)
{
	/* format 2 levels 1, 3, 4, 6 and level 2 with the record contexts one and two strides back
	 * (the compiled shapes), format 1 levels 3 and 4 (only the generic code) */
	static const struct {
		int version, level;
		uint32_t more;
	} levels[] = {{2, 1, 0}, {2, 2, MIX_CTX_REC3}, {2, 3, 0}, {2, 4, 0}, {2, 6, 0}, {1, 3, 0},
	              {1, 4, 0}};
	const size_t len = 24 * 1024;
	uint8_t *data = sample(len);
	uint8_t *hist_a = calloc(1, len), *hist_b = calloc(1, len), *hist_c = calloc(1, len);

	(void)state;
	assert_non_null(hist_a);
	assert_non_null(hist_b);
	assert_non_null(hist_c);
	for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
		struct mix_cm_params p = bp_level_get(levels[l].version, levels[l].level)->cm;
		struct mix_cm *a, *b, *c;
		int32_t xa[MIX_CM_MAX_INPUTS], xb[MIX_CM_MAX_INPUTS], xc[MIX_CM_MAX_INPUTS];
		long hits = 0;

		p.contexts |= levels[l].more;
		p.hash_bits_max = 16; /* 4 MB of table: enough for the sample */
		assert_int_equal(mix_cm_new(&p, &a), 0);
		assert_int_equal(mix_cm_new(&p, &b), 0);
		assert_int_equal(mix_cm_new(&p, &c), 0);
		/* a: the generic code and portable kernels; b: as mix_cm_new picked (AVX2 where the
		 * CPU has it); c: the code compiled for the shape with the portable kernels */
		assert_int_equal(mix_cm_set_kernels(a, "portable"), 0);
		assert_int_equal(mix_cm_set_kernels(a, "generic"), 0);
		assert_int_equal(mix_cm_set_kernels(c, "portable"), 0);
		mix_cm_reset(a, hist_a, len);
		mix_cm_reset(b, hist_b, len);
		mix_cm_reset(c, hist_c, len);
		for (size_t i = 0; i < len; i++) {
			for (int j = 0; j < 8; j++) {
				int bit = data[i] >> (7 - j) & 1;

				mix_cm_predict(a, xa);
				mix_cm_predict(b, xb);
				mix_cm_predict(c, xc);
				assert_memory_equal(xa, xb, sizeof(xa[0]) * (size_t)a->ninputs);
				assert_memory_equal(xa, xc, sizeof(xa[0]) * (size_t)a->ninputs);
				assert_int_equal(a->hits, b->hits);
				assert_int_equal(a->order_hits, b->order_hits);
				assert_int_equal(a->hits, c->hits);
				assert_int_equal(a->order_hits, c->order_hits);
				hits += a->hits;
				if (j == 7)
					hist_a[i] = hist_b[i] = hist_c[i] = data[i];
				mix_cm_update(a, bit);
				mix_cm_update(b, bit);
				mix_cm_update(c, bit);
			}
			assert_memory_equal(a->ahead_line[0], b->ahead_line[0],
			                    sizeof(a->ahead_line[0][0]) * (size_t)a->nhashed);
		}
		/* the hashed contexts were in play: most of their lookups found history */
		assert_true(hits > (long)len * 8 * a->nhashed / 2);
		mix_cm_free(a);
		mix_cm_free(b);
		mix_cm_free(c);
	}
	free(data);
	free(hist_a);
	free(hist_b);
	free(hist_c);
}

/* An unlearned counter (p = 1/2) and state 0's fixed counter give input 0 without a test of
 * either (mix_cm.c): that needs stretch(1/2) = 0. */
static void test_half_stretches_to_zero(void **state)
{
	(void)state;
	assert_int_equal(mix_stretch(2048), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_half_stretches_to_zero),
	    cmocka_unit_test(test_compiled_shapes_and_kernels_predict_as_the_generic_code),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
