/* Unit tests of the decoded-block cache's claims (fs/fs_cache.h): one decode per block, a
 * waiter gets the decoder's block, a failed decode wakes its waiters empty-handed. Threads
 * wait on conditions only (no sleeps), so a loaded machine makes them slower, never wrong. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fs_cache.h"

#define BS 4096

struct waiter {
	struct fs_cache *cache;
	uint8_t buf[BS];
	int rc, waited;
};

static void *wait_for_block(void *arg)
{
	struct waiter *w = arg;
	struct fs_cache_claim claim;

	w->rc = fs_cache_claim(w->cache, 7, 3, w->buf, &claim, &w->waited);
	if (w->rc == 1) /* not expected: end the claim so nothing hangs */
		fs_cache_release(w->cache, &claim, NULL);
	return NULL;
}

/* Starts a thread that claims (7, 3). It may run before or after the caller's release: there
 * is no portable way to see a thread blocked in a condition wait, so the tests accept both
 * orders and check what each must give (never a second decode, never an undecoded block). */
static pthread_t start_waiter(struct waiter *w)
{
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, wait_for_block, w), 0);
	return t;
}

static void test_claim_of_uncached_block_is_given_once(void **state)
{
	struct fs_cache *c;
	struct fs_cache_claim claim;
	uint8_t buf[BS], block[BS];
	int waited;

	(void)state;
	memset(block, 0xab, BS);
	assert_int_equal(fs_cache_new(16 * BS, BS, &c), 0);
	assert_int_equal(fs_cache_claim(c, 7, 3, buf, &claim, &waited), 1);
	assert_int_equal(waited, 0);
	fs_cache_release(c, &claim, block);
	/* Released with its block: the next claim is a cache hit. */
	assert_int_equal(fs_cache_claim(c, 7, 3, buf, &claim, &waited), 0);
	assert_int_equal(waited, 0);
	assert_memory_equal(buf, block, BS);
	fs_cache_free(c);
}

static void test_waiter_gets_the_decoded_block(void **state)
{
	struct fs_cache *c;
	struct fs_cache_claim claim;
	struct waiter w = {0};
	uint8_t buf[BS], block[BS];
	pthread_t t;
	int waited;

	(void)state;
	memset(block, 0x5a, BS);
	assert_int_equal(fs_cache_new(16 * BS, BS, &c), 0);
	assert_int_equal(fs_cache_claim(c, 7, 3, buf, &claim, &waited), 1);
	w.cache = c;
	t = start_waiter(&w);
	/* Whether the waiter claims before or after the release, it must not decode: either it
	 * waits and copies the block, or it finds the block cached. */
	fs_cache_release(c, &claim, block);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.rc, 0);
	assert_memory_equal(w.buf, block, BS);
	fs_cache_free(c);
}

static void test_failed_decode_wakes_waiters_without_a_block(void **state)
{
	struct fs_cache *c;
	struct fs_cache_claim claim;
	struct waiter w = {0};
	uint8_t buf[BS];
	pthread_t t;
	int waited;

	(void)state;
	assert_int_equal(fs_cache_new(16 * BS, BS, &c), 0);
	assert_int_equal(fs_cache_claim(c, 7, 3, buf, &claim, &waited), 1);
	w.cache = c;
	t = start_waiter(&w);
	fs_cache_release(c, &claim, NULL);
	assert_int_equal(pthread_join(t, NULL), 0);
	/* Woken empty-handed (-ENOENT: decode it yourself), or came after the release and got
	 * the claim: never a block that was not decoded. */
	if (w.waited)
		assert_int_equal(w.rc, -ENOENT);
	else
		assert_int_equal(w.rc, 1);
	fs_cache_free(c);
}

static void test_claims_of_other_blocks_do_not_wait(void **state)
{
	struct fs_cache *c;
	struct fs_cache_claim a, b, d;
	uint8_t buf[BS];
	int waited;

	(void)state;
	assert_int_equal(fs_cache_new(16 * BS, BS, &c), 0);
	assert_int_equal(fs_cache_claim(c, 7, 3, buf, &a, &waited), 1);
	assert_int_equal(fs_cache_claim(c, 7, 4, buf, &b, &waited), 1);
	assert_int_equal(waited, 0);
	assert_int_equal(fs_cache_claim(c, 8, 3, buf, &d, &waited), 1);
	assert_int_equal(waited, 0);
	/* Released out of order: the list stays whole. */
	fs_cache_release(c, &b, NULL);
	fs_cache_release(c, &a, NULL);
	fs_cache_release(c, &d, NULL);
	assert_int_equal(fs_cache_claim(c, 7, 4, buf, &b, &waited), 1);
	fs_cache_release(c, &b, NULL);
	fs_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_claim_of_uncached_block_is_given_once),
	    cmocka_unit_test(test_waiter_gets_the_decoded_block),
	    cmocka_unit_test(test_failed_decode_wakes_waiters_without_a_block),
	    cmocka_unit_test(test_claims_of_other_blocks_do_not_wait),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
