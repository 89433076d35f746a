/* fuzz_unwrap — libFuzzer target for the unwrap parsers (codec/unwrap.h): the ROOT key-table
 * walker, the gzip member parser and the recipe search behind unwrap_scan, and the serialized
 * plan reader unwrap_plan_decode.
 *
 * Input: a selector byte, then the bytes. Selector bit 0 clear: the bytes are a file; scanning
 * it must succeed (or run out of memory), and its plan must cover it exactly and re-create every
 * byte of it from the unwrapped bytes, and survive serialization. Bit 0 set: the bytes are a
 * serialized plan; decoding returns a plan or an error, and a plan it returns serializes back
 * to the same bytes. Never a crash, a hang, an out-of-bounds access or a wrong byte. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unwrap.h"

/* Field by field: the structs have padding, which no one promises to zero. */
static int piece_equal(const struct unwrap_piece *a, const struct unwrap_piece *b)
{
	return a->off == b->off && a->len == b->len && a->unwrapped_off == b->unwrapped_off &&
	       a->unwrapped_len == b->unwrapped_len && a->xxh64 == b->xxh64 && a->kind == b->kind &&
	       a->recipe.lib == b->recipe.lib && a->recipe.origin == b->recipe.origin &&
	       a->recipe.level == b->recipe.level &&
	       a->recipe.window_bits == b->recipe.window_bits &&
	       a->recipe.mem_level == b->recipe.mem_level &&
	       a->recipe.strategy == b->recipe.strategy &&
	       a->recipe.lib_version == b->recipe.lib_version;
}

static void check_plan_recreates(const struct unwrap_plan *p, const uint8_t *data, size_t len)
{
	uint8_t *unwrapped = malloc(p->unwrapped_len + 1), *back = malloc(len + 1);
	uint64_t off = 0;

	if (!unwrapped || !back)
		abort();
	if (p->file_len != len || unwrap_plan_unwrap(p, data, len, unwrapped) != 0)
		abort();
	for (uint32_t i = 0; i < p->n_pieces; i++) {
		const struct unwrap_piece *pc = &p->pieces[i];

		if (pc->off != off || pc->len == 0 ||
		    unwrap_regenerate(pc, unwrapped + pc->unwrapped_off, back + pc->off) != 0)
			abort();
		off += pc->len;
	}
	if (off != len || memcmp(back, data, len) != 0)
		abort();
	free(unwrapped);
	free(back);
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
		if (!piece_equal(&q->pieces[i], &p->pieces[i]))
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
	unwrap_plan_free(p);
	return 0;
}
