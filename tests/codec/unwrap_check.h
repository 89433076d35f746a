/* unwrap_check — checks of an unwrap plan (codec/unwrap.h) against the file it was made from,
 * shared by the cmocka test (tests/codec/test_unwrap.c) and the libFuzzer target
 * (tests/fuzz/fuzz_unwrap.c), so that both hold a plan to the same rules.
 *
 * Owns: nothing; no global state. Does not own: the plan or the data.
 * Threads: any. Errors: 0, or -1 with what is wrong written as one line into `why`. */
#ifndef BOAFS_TESTS_UNWRAP_CHECK_H
#define BOAFS_TESTS_UNWRAP_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "unwrap.h"

/* 1 when every field of the two pieces is equal (field by field: the structs have padding,
 * which no one promises to zero), else 0. */
int unwrap_check_piece_equal(const struct unwrap_piece *a, const struct unwrap_piece *b);

/* Checks that plan `p` covers `data` (`len` bytes) exactly — pieces in order, none empty,
 * logical and unwrapped offsets contiguous, a verbatim piece as long unwrapped as logical — and
 * that unwrap + regenerate of every piece gives back every byte of it. */
int unwrap_check_plan(const struct unwrap_plan *p, const uint8_t *data, size_t len, char *why,
                      size_t why_len);

#endif
