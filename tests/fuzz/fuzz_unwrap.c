/* fuzz_unwrap — libFuzzer target for the unwrap parsers (codec/unwrap.h): the ROOT key-table
 * walker, the gzip member parser and the recipe search behind unwrap_scan, and the serialized
 * plan reader unwrap_plan_decode.
 *
 * Input: a selector byte, then the bytes. Selector bit 0 clear: the bytes are a file; scanning
 * it must succeed (or run out of memory), and its plan must cover it exactly and re-create every
 * byte of it from the unwrapped bytes, and survive serialization, also once reordered. Bit 0 set:
 * the bytes are a serialized plan; decoding returns a plan or an error, and a plan it returns
 * serializes back to the same bytes. Never a crash, a hang, an out-of-bounds access or a wrong
 * byte. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unwrap.h"
#include "../codec/unwrap_check.h"

static void check_plan_recreates(const struct unwrap_plan *p, const uint8_t *data, size_t len)
{
	char why[512];

	if (unwrap_check_plan(p, data, len, why, sizeof(why))) {
		fprintf(stderr, "fuzz_unwrap: %s\n", why);
		abort();
	}
}

static void check_serialization(const struct unwrap_plan *p)
{
	size_t n = unwrap_plan_encoded_size(p), len;
	uint8_t *buf = malloc(n);
	struct unwrap_plan *q = NULL;

	if (!buf || unwrap_plan_encode(p, buf, n, &len) != 0 || len != n ||
	    unwrap_plan_decode(buf, len, &q) != 0 || q->n_pieces != p->n_pieces ||
	    q->unwrapped_len != p->unwrapped_len)
		abort();
	for (uint32_t i = 0; i < p->n_pieces; i++)
		if (!unwrap_check_piece_equal(&q->pieces[i], &p->pieces[i]))
			abort();
	if (!p->order != !q->order ||
	    (p->order && memcmp(p->order, q->order, p->n_pieces * sizeof(*p->order))))
		abort();
	unwrap_plan_free(q);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A small limit keeps every run short (a tiny gzip can claim gigabytes). */
	struct unwrap_scan_opts opts = {.max_unwrapped = 4u << 20};
	struct unwrap_plan *p = NULL;
	int rc;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		rc = unwrap_plan_decode(data + 1, size - 1, &p);
		if (rc == 0) {
			size_t n = unwrap_plan_encoded_size(p), len;
			uint8_t *buf = malloc(n);

			if (!buf || unwrap_plan_encode(p, buf, n, &len) != 0 || len != size - 1 ||
			    memcmp(buf, data + 1, len) != 0)
				abort();
			free(buf);
			unwrap_plan_free(p);
		} else if (rc != -EBADMSG && rc != -EPROTO && rc != -ENOMEM) {
			abort();
		}
		return 0;
	}
	rc = unwrap_scan(data + 1, size - 1, &opts, &p);
	if (rc == -ENOMEM)
		return 0;
	if (rc != 0)
		abort();
	check_plan_recreates(p, data + 1, size - 1);
	check_serialization(p);
	/* The daemon lays ROOT plans out by branch family: that plan must hold up as well. */
	rc = unwrap_plan_reorder(p, data + 1, size - 1);
	if (rc == 0) {
		check_plan_recreates(p, data + 1, size - 1);
		check_serialization(p);
	} else if (rc != -ENOMEM) {
		abort();
	}
	unwrap_plan_free(p);
	return 0;
}
