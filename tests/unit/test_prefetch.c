/* Unit tests of the read-ahead pool (fs/fs_prefetch.h) with a load job of the test's own: a
 * file gets at most its window of blocks queued or decoding ahead (more are dropped), a block
 * already asked for is not asked for twice, a free worker serves a file that has none busy
 * before the queued blocks of a file it is already decoding, and a file's queued blocks are
 * dropped when it closes (fs_prefetch_forget) while other files' stay. Loads of the file under test
 * wait for tickets the test hands out, and the test waits on conditions only (no sleeps), so a
 * loaded machine makes it slower, never wrong. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fs.h"
#include "fs_prefetch.h"

#define HELD_INO  5 /* its loads wait for a ticket */
#define OTHER_INO 6 /* its loads return at once */
#define LOADS_MAX 64

static struct {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int tickets, open; /* open: loads of HELD_INO no longer wait */
	size_t started, finished;
	uint64_t ino[LOADS_MAX], block[LOADS_MAX]; /* in the order the loads started */
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};

static int load(struct fs *fs, uint64_t ino, uint64_t block)
{
	(void)fs;
	pthread_mutex_lock(&g.lock);
	if (g.started < LOADS_MAX) {
		g.ino[g.started] = ino;
		g.block[g.started] = block;
	}
	g.started++;
	pthread_cond_broadcast(&g.changed);
	while (ino == HELD_INO && !g.open && !g.tickets)
		pthread_cond_wait(&g.changed, &g.lock);
	if (ino == HELD_INO && !g.open)
		g.tickets--;
	g.finished++;
	pthread_cond_broadcast(&g.changed);
	pthread_mutex_unlock(&g.lock);
	return 0;
}

static void wait_started(size_t n)
{
	pthread_mutex_lock(&g.lock);
	while (g.started < n)
		pthread_cond_wait(&g.changed, &g.lock);
	pthread_mutex_unlock(&g.lock);
}

static void wait_finished(size_t n)
{
	pthread_mutex_lock(&g.lock);
	while (g.finished < n)
		pthread_cond_wait(&g.changed, &g.lock);
	pthread_mutex_unlock(&g.lock);
}

static void set_open(int open, int tickets)
{
	pthread_mutex_lock(&g.lock);
	g.open = open;
	g.tickets += tickets;
	pthread_cond_broadcast(&g.changed);
	pthread_mutex_unlock(&g.lock);
}

static void reset(void)
{
	pthread_mutex_lock(&g.lock);
	g.tickets = g.open = 0;
	g.started = g.finished = 0;
	pthread_mutex_unlock(&g.lock);
}

static size_t loads_of(uint64_t ino)
{
	size_t n = 0;

	for (size_t i = 0; i < g.started && i < LOADS_MAX; i++)
		n += g.ino[i] == ino;
	return n;
}

/* Waits until a load of `block` of `ino` has started. */
static void wait_load(uint64_t ino, uint64_t block)
{
	pthread_mutex_lock(&g.lock);
	for (;;) {
		for (size_t i = 0; i < g.started && i < LOADS_MAX; i++)
			if (g.ino[i] == ino && g.block[i] == block)
				goto out;
		pthread_cond_wait(&g.changed, &g.lock);
	}
out:
	pthread_mutex_unlock(&g.lock);
}

static int setup_workers(void **state, size_t threads)
{
	static struct fs fs;

	memset(&fs, 0, sizeof(fs));
	fs.opt.threads = threads;
	reset();
	if (fs_prefetch_start(&fs, load))
		return -1;
	*state = &fs;
	return 0;
}

static int setup(void **state)
{
	return setup_workers(state, 2);
}

/* One worker: with none busy it takes requests oldest first, so the order of loads is known. */
static int setup_one(void **state)
{
	return setup_workers(state, 1);
}

static int teardown(void **state)
{
	set_open(1, 0); /* no load left waiting: stop joins the workers */
	fs_prefetch_stop(*state);
	return 0;
}

static void test_a_file_gets_at_most_its_window(void **state)
{
	struct fs *fs = *state;
	size_t window = fs_prefetch_depth(fs);

	assert_true(window >= 2); /* at least one block per worker */
	/* Both workers held on the file's first blocks, then far more asked for than fit. */
	for (uint64_t b = 1; b <= 4 * window; b++)
		fs_prefetch_request(fs, HELD_INO, b);
	wait_started(2);
	set_open(1, 0);
	wait_finished(window);
	/* Anything queued beyond the window would be older than this block of another file,
	 * which no worker takes before them (none of the file's blocks is busy any more, so the
	 * oldest request goes first): once it has loaded, every extra would have started. */
	fs_prefetch_request(fs, OTHER_INO, 0);
	wait_started(window + 1);
	fs_prefetch_stop(fs); /* joins the workers: every load started has finished */
	assert_int_equal(loads_of(HELD_INO), window);
	for (size_t i = 0; i < window; i++) /* the nearest blocks, not any */
		assert_true(g.ino[i] == HELD_INO && g.block[i] <= window);
	assert_int_equal(fs_prefetch_start(fs, load), 0); /* for teardown */
}

static void test_a_block_asked_twice_loads_once(void **state)
{
	struct fs *fs = *state;

	fs_prefetch_request(fs, HELD_INO, 1);
	fs_prefetch_request(fs, HELD_INO, 2);
	wait_started(2); /* both held: busy */
	fs_prefetch_request(fs, HELD_INO, 1);
	fs_prefetch_request(fs, HELD_INO, 2);
	fs_prefetch_request(fs, HELD_INO, 3);
	fs_prefetch_request(fs, HELD_INO, 3); /* queued: still one */
	set_open(1, 0);
	fs_prefetch_request(fs, OTHER_INO, 0); /* after every other: its load comes last */
	wait_started(4);
	fs_prefetch_stop(fs);
	assert_int_equal(loads_of(HELD_INO), 3);
	assert_int_equal(fs_prefetch_start(fs, load), 0);
}

static void test_a_free_worker_serves_an_idle_file_first(void **state)
{
	struct fs *fs = *state;

	/* HELD_INO: both workers busy and blocks queued; then one block of OTHER_INO. */
	for (uint64_t b = 1; b <= 4; b++)
		fs_prefetch_request(fs, HELD_INO, b);
	wait_started(2);
	fs_prefetch_request(fs, OTHER_INO, 0);
	/* One ticket: one worker comes free while the other is still busy on HELD_INO. */
	set_open(0, 1);
	wait_started(3);
	assert_int_equal(g.ino[2], OTHER_INO);
}

static void test_a_closed_file_loses_its_queued_blocks(void **state)
{
	struct fs *fs = *state;

	/* The worker held on block 1 of HELD_INO; queued behind it: a block of OTHER_INO, block 2
	 * of HELD_INO, another block of OTHER_INO. Then HELD_INO's last handle closes. */
	fs_prefetch_request(fs, HELD_INO, 1);
	wait_started(1);
	fs_prefetch_request(fs, OTHER_INO, 0);
	fs_prefetch_request(fs, HELD_INO, 2);
	fs_prefetch_request(fs, OTHER_INO, 1);
	fs_prefetch_forget(fs, HELD_INO);
	set_open(1, 0);
	/* Requests are taken oldest first by the one worker, so once the last one has started,
	 * block 2 of HELD_INO would have too had it stayed queued. */
	wait_load(OTHER_INO, 1);
	/* The file opened again: its block is asked for anew (nothing of the old request is left
	 * pending) and loads. */
	fs_prefetch_request(fs, HELD_INO, 2);
	wait_load(HELD_INO, 2);
	fs_prefetch_stop(fs); /* joins the worker: every load started has finished */
	assert_int_equal(g.started, 4);
	assert_int_equal(g.finished, 4); /* the load in progress at close finished */
	assert_true(g.ino[0] == HELD_INO && g.block[0] == 1);
	assert_true(g.ino[1] == OTHER_INO && g.block[1] == 0); /* the other file's, in order */
	assert_true(g.ino[2] == OTHER_INO && g.block[2] == 1);
	assert_true(g.ino[3] == HELD_INO && g.block[3] == 2);
	assert_int_equal(fs_prefetch_start(fs, load), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_a_file_gets_at_most_its_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_block_asked_twice_loads_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_free_worker_serves_an_idle_file_first, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_a_closed_file_loses_its_queued_blocks, setup_one,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
