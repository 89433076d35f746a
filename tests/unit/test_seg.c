/* Unit tests of the segment store (index/seg.h): each test is one behaviour, on a fresh seg/
 * directory. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "seg.h"

struct fixture {
	char root[64];
	char dir[96];
	struct seg_store *seg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->root, "/tmp/boafs-seg-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->dir, sizeof(f->dir), "%s/seg", f->root);
	assert_int_equal(seg_open(f->dir, 1, &f->seg), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	seg_close(f->seg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void seg_path(const struct fixture *f, uint64_t segment, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%016llx.seg", f->dir, (unsigned long long)segment);
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* Writes one byte of a segment file in place. */
static void poke(const struct fixture *f, uint64_t segment, uint64_t offset, uint8_t xor)
{
	char path[160];
	uint8_t b;
	int fd;

	seg_path(f, segment, path, sizeof(path));
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)offset), 1);
	b ^= xor;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)offset), 1);
	close(fd);
}

/* Appends a record of `len` bytes, all `fill`, for (ino, block). */
static struct extent append(struct fixture *f, uint64_t ino, uint64_t block, uint32_t len,
                            uint8_t fill)
{
	uint8_t *payload = malloc(len ? len : 1);
	struct seg_record_info info = {
	    .codec = 2,
	    .model_id = 3,
	    .raw_len = len * 2,
	    .ino = ino,
	    .block = block,
	};
	struct extent e;

	memset(payload, fill, len);
	info.raw_xxh64 = XXH64(payload, len, 0) ^ 0x5555; /* stands in for the raw bytes' hash */
	assert_int_equal(seg_append(f->seg, &info, payload, len, &e), 0);
	free(payload);
	return e;
}

static void test_record_round_trip(void **state)
{
	struct fixture *f = *state;
	struct extent a = append(f, 2, 0, 1000, 0xaa), b = append(f, 2, 1, 10, 0xbb);
	uint8_t buf[1000], want[1000];

	assert_int_equal(seg_sync(f->seg), 0);
	assert_int_equal(a.offset, 0);
	assert_int_equal(a.record_len, SEG_HEADER_LEN + 1000);
	assert_int_equal(a.stored_len, 1000);
	assert_int_equal(a.raw_len, 2000);
	assert_int_equal(a.codec, 2);
	assert_int_equal(a.model_id, 3);
	assert_true(a.written_at_ns > 0);
	assert_int_equal(b.segment, a.segment);
	assert_int_equal(b.offset, a.record_len);

	memset(want, 0xaa, sizeof(want));
	assert_int_equal(seg_record_read(f->seg, &a, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, want, 1000);
	memset(want, 0xbb, 10);
	assert_int_equal(seg_record_read(f->seg, &b, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, want, 10);
}

static void test_first_segment_is_created_lazily(void **state)
{
	struct fixture *f = *state;
	char path[160];
	struct stat st;
	struct extent e;

	seg_path(f, 1, path, sizeof(path));
	assert_int_equal(stat(path, &st), -1);
	e = append(f, 2, 0, 1, 0);
	assert_int_equal(e.segment, 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_record_header_is_documented_layout(void **state)
{
	struct fixture *f = *state;
	struct extent e = append(f, 0x1122334455667788ull, 9, 4, 0x01);
	uint8_t h[SEG_HEADER_LEN], copy[SEG_HEADER_LEN];
	char path[160];
	int fd;

	seg_path(f, e.segment, path, sizeof(path));
	fd = open(path, O_RDONLY);
	assert_int_equal(pread(fd, h, sizeof(h), 0), SEG_HEADER_LEN);
	close(fd);
	assert_memory_equal(h, "BOAR", 4);
	assert_int_equal(h[4], 2);              /* codec */
	assert_int_equal(h[5], 1);              /* version */
	assert_int_equal(h[6] | h[7] << 8, 48); /* header_len */
	assert_int_equal(h[8], 3);              /* model_id, LE */
	assert_int_equal(h[12], 8);             /* raw_len, LE */
	assert_int_equal(h[16], 4);             /* stored_len, LE */
	assert_int_equal(h[24], 0x88);          /* ino, LE */
	assert_int_equal(h[31], 0x11);
	assert_int_equal(h[32], 9); /* block */
	memcpy(copy, h, sizeof(copy));
	memset(copy + 20, 0, 4);
	uint32_t sum = (uint32_t)XXH64(copy, sizeof(copy), 0);
	assert_int_equal(h[20] | h[21] << 8 | h[22] << 16 | (uint32_t)h[23] << 24, sum);
}

static void test_flipped_header_byte_is_eio(void **state)
{
	struct fixture *f = *state;
	struct extent e = append(f, 2, 0, 100, 0xcc);
	uint8_t buf[100];

	/* the ino back-reference: not compared with the extent, so only the checksum sees it */
	poke(f, e.segment, e.offset + 26, 0x01);
	assert_int_equal(seg_record_read(f->seg, &e, buf, sizeof(buf)), -EIO);
}

static void test_flipped_magic_is_eio(void **state)
{
	struct fixture *f = *state;
	struct extent e = append(f, 2, 0, 100, 0xcc);
	uint8_t buf[100];

	poke(f, e.segment, e.offset, 0x20);
	assert_int_equal(seg_record_read(f->seg, &e, buf, sizeof(buf)), -EIO);
}

static void test_flipped_payload_byte_is_left_to_raw_checksum(void **state)
{
	struct fixture *f = *state;
	struct extent e = append(f, 2, 0, 100, 0xcc);
	uint8_t buf[100];

	/* seg does not hash payloads: fs checks raw_xxh64 after decoding */
	poke(f, e.segment, e.offset + SEG_HEADER_LEN + 50, 0x01);
	assert_int_equal(seg_record_read(f->seg, &e, buf, sizeof(buf)), 0);
	assert_int_equal(buf[50], 0xcd);
}

static void test_extent_disagreeing_with_header_is_eio(void **state)
{
	struct fixture *f = *state;
	struct extent e = append(f, 2, 0, 100, 0xcc), bad;
	uint8_t buf[200];

	bad = e;
	bad.stored_len = 99;
	bad.record_len = SEG_HEADER_LEN + 99;
	assert_int_equal(seg_record_read(f->seg, &bad, buf, sizeof(buf)), -EIO);
	bad = e;
	bad.record_len = 200; /* record_len != header + stored_len */
	assert_int_equal(seg_record_read(f->seg, &bad, buf, sizeof(buf)), -EIO);
	bad = e;
	bad.raw_len++;
	assert_int_equal(seg_record_read(f->seg, &bad, buf, sizeof(buf)), -EIO);
	bad = e;
	bad.codec = 1;
	assert_int_equal(seg_record_read(f->seg, &bad, buf, sizeof(buf)), -EIO);
	bad = e;
	bad.model_id = 4;
	assert_int_equal(seg_record_read(f->seg, &bad, buf, sizeof(buf)), -EIO);
	bad = e;
	bad.raw_xxh64 ^= 1;
	assert_int_equal(seg_record_read(f->seg, &bad, buf, sizeof(buf)), -EIO);
	bad = e;
	bad.offset += 1; /* points into the middle of a record */
	assert_int_equal(seg_record_read(f->seg, &bad, buf, sizeof(buf)), -EIO);
	assert_int_equal(seg_record_read(f->seg, &e, buf, sizeof(buf)), 0);
}

static void test_truncated_segment_is_eio(void **state)
{
	struct fixture *f = *state;
	struct extent a = append(f, 2, 0, 100, 1), b = append(f, 2, 1, 100, 2);
	uint8_t buf[100];
	char path[160];

	seg_path(f, b.segment, path, sizeof(path));
	assert_int_equal(truncate(path, (off_t)(b.offset + b.record_len - 1)), 0);
	assert_int_equal(seg_record_read(f->seg, &b, buf, sizeof(buf)), -EIO);
	assert_int_equal(seg_record_read(f->seg, &a, buf, sizeof(buf)), 0);
	assert_int_equal(truncate(path, (off_t)b.offset), 0);
	assert_int_equal(seg_record_read(f->seg, &b, buf, sizeof(buf)), -EIO);
}

static void test_missing_segment_is_eio(void **state)
{
	struct fixture *f = *state;
	struct extent e = append(f, 2, 0, 100, 1);
	uint8_t buf[100];

	e.segment = 42;
	assert_int_equal(seg_record_read(f->seg, &e, buf, sizeof(buf)), -EIO);
}

static void test_small_buffer_is_refused(void **state)
{
	struct fixture *f = *state;
	struct extent e = append(f, 2, 0, 100, 1);
	uint8_t buf[100];

	assert_int_equal(seg_record_read(f->seg, &e, buf, 99), -EINVAL);
}

static void test_reopen_appends_to_a_new_segment(void **state)
{
	struct fixture *f = *state;
	struct extent a = append(f, 2, 0, 100, 1), b;
	uint8_t buf[100];

	assert_int_equal(seg_sync(f->seg), 0);
	seg_close(f->seg);
	assert_int_equal(seg_open(f->dir, 0, &f->seg), 0);
	b = append(f, 2, 1, 100, 2);
	assert_int_equal(b.segment, a.segment + 1);
	assert_int_equal(b.offset, 0);
	assert_int_equal(seg_record_read(f->seg, &a, buf, sizeof(buf)), 0);
	assert_int_equal(buf[0], 1);
}

static void test_open_skips_past_highest_segment_present(void **state)
{
	struct fixture *f = *state;
	char path[160];
	int fd;
	struct extent e;

	seg_path(f, 0x1f, path, sizeof(path));
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	seg_close(f->seg);
	assert_int_equal(seg_open(f->dir, 0, &f->seg), 0);
	e = append(f, 2, 0, 1, 0);
	assert_int_equal(e.segment, 0x20);
}

static void test_open_without_create_needs_the_dir(void **state)
{
	struct fixture *f = *state;
	char dir[128];
	struct seg_store *s = NULL;

	snprintf(dir, sizeof(dir), "%s/nope", f->root);
	assert_int_equal(seg_open(dir, 0, &s), -ENOENT);
	assert_null(s);
}

struct walk {
	int count;
	uint64_t offset[16];
	struct seg_record_info info[16];
	uint32_t stored_len[16];
	uint8_t first[16];
};

static int collect(void *arg, uint64_t offset, const struct seg_record_info *info,
                   const void *payload, uint32_t stored_len)
{
	struct walk *w = arg;

	assert_true(w->count < 16);
	w->offset[w->count] = offset;
	w->info[w->count] = *info;
	w->stored_len[w->count] = stored_len;
	w->first[w->count] = stored_len ? *(const uint8_t *)payload : 0;
	w->count++;
	return 0;
}

static void test_each_record_walks_all_records(void **state)
{
	struct fixture *f = *state;
	struct extent e[4];
	struct walk w = {0};

	e[0] = append(f, 2, 0, 100, 10);
	e[1] = append(f, 2, 1, 0, 0); /* empty payload is a valid record */
	e[2] = append(f, 3, 7, 5000, 30);
	e[3] = append(f, 4, 0, 1, 40);
	assert_int_equal(seg_each_record(f->seg, e[0].segment, collect, &w), 0);
	assert_int_equal(w.count, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(w.offset[i], e[i].offset);
		assert_int_equal(w.stored_len[i], e[i].stored_len);
		assert_int_equal(w.info[i].raw_len, e[i].raw_len);
		assert_int_equal(w.info[i].raw_xxh64, e[i].raw_xxh64);
		assert_int_equal(w.info[i].codec, 2);
		assert_int_equal(w.info[i].model_id, 3);
	}
	assert_int_equal(w.info[2].ino, 3);
	assert_int_equal(w.info[2].block, 7);
	assert_int_equal(w.first[2], 30);
}

static void test_each_record_stops_at_damage_with_eio(void **state)
{
	struct fixture *f = *state;
	struct extent a = append(f, 2, 0, 100, 1), b = append(f, 2, 1, 100, 2);
	struct walk w = {0};
	char path[160];

	append(f, 2, 2, 100, 3);
	poke(f, b.segment, b.offset + 10, 0xff);
	assert_int_equal(seg_each_record(f->seg, a.segment, collect, &w), -EIO);
	assert_int_equal(w.count, 1);

	poke(f, b.segment, b.offset + 10, 0xff); /* repair, then cut the last record short */
	seg_path(f, a.segment, path, sizeof(path));
	assert_int_equal(truncate(path, file_size(path) - 1), 0);
	memset(&w, 0, sizeof(w));
	assert_int_equal(seg_each_record(f->seg, a.segment, collect, &w), -EIO);
	assert_int_equal(w.count, 2);
}

static int count_records(void *arg, uint64_t offset, const struct seg_record_info *info,
                         const void *payload, uint32_t stored_len)
{
	++*(uint64_t *)arg;
	return 0;
}

static int stop_at_first(void *arg, uint64_t offset, const struct seg_record_info *info,
                         const void *payload, uint32_t stored_len)
{
	return 5;
}

static void test_each_record_callback_stops_the_walk(void **state)
{
	struct fixture *f = *state;
	struct extent a = append(f, 2, 0, 100, 1);

	append(f, 2, 1, 100, 2);
	assert_int_equal(seg_each_record(f->seg, a.segment, stop_at_first, NULL), 5);
}

static void test_segment_rolls_over_past_roll_bytes(void **state)
{
	struct fixture *f = *state;
	struct extent a, b, c;
	uint8_t buf[600];

	seg_close(f->seg);
	setenv("BOAFS_SEG_ROLL_BYTES", "1000", 1);
	assert_int_equal(seg_open(f->dir, 0, &f->seg), 0);
	unsetenv("BOAFS_SEG_ROLL_BYTES");
	a = append(f, 2, 0, 400, 1);
	b = append(f, 2, 1, 400, 2); /* 896 bytes: still fits */
	c = append(f, 2, 2, 400, 3); /* would pass 1000: next segment */
	assert_int_equal(b.segment, a.segment);
	assert_int_equal(c.segment, a.segment + 1);
	assert_int_equal(c.offset, 0);
	assert_int_equal(seg_sync(f->seg), 0);
	assert_int_equal(seg_record_read(f->seg, &b, buf, sizeof(buf)), 0);
	assert_int_equal(buf[0], 2);
	assert_int_equal(seg_record_read(f->seg, &c, buf, sizeof(buf)), 0);
	assert_int_equal(buf[0], 3);
	/* a record bigger than the roll size still goes in, alone */
	c = append(f, 2, 3, 2000, 4);
	assert_int_equal(c.offset, 0);
}

static void test_failed_append_rolls_back_the_tail(void **state)
{
	struct fixture *f = *state;
	struct extent a = append(f, 2, 0, 1000, 1), b;
	struct seg_record_info info = {.codec = 2, .raw_len = 8000};
	struct rlimit old, lim;
	uint8_t payload[8000], buf[1000];
	char path[160];
	void (*old_handler)(int);
	int rc;

	memset(payload, 7, sizeof(payload));
	seg_path(f, a.segment, path, sizeof(path));
	/* A file size limit stands in for a full disk: the write stops part way (EFBIG). */
	old_handler = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = seg_append(f->seg, &info, payload, sizeof(payload), &b);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_handler);

	assert_int_equal(rc, -EFBIG);
	assert_int_equal(file_size(path), (off_t)a.record_len);
	assert_int_equal(seg_record_read(f->seg, &a, buf, sizeof(buf)), 0);
	/* and the next append goes where the failed one would have */
	b = append(f, 2, 1, 10, 9);
	assert_int_equal(b.segment, a.segment);
	assert_int_equal(b.offset, a.record_len);
}

static void test_remove_deletes_the_file(void **state)
{
	struct fixture *f = *state;
	struct extent a = append(f, 2, 0, 10, 1);
	uint8_t buf[10];
	char path[160];
	struct stat st;

	assert_int_equal(seg_remove(f->seg, a.segment), -EBUSY); /* the tail */
	seg_close(f->seg);
	assert_int_equal(seg_open(f->dir, 0, &f->seg), 0);
	assert_int_equal(seg_record_read(f->seg, &a, buf, sizeof(buf)), 0); /* cached fd */
	assert_int_equal(seg_remove(f->seg, a.segment), 0);
	seg_path(f, a.segment, path, sizeof(path));
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(seg_record_read(f->seg, &a, buf, sizeof(buf)), -EIO);
	assert_int_equal(seg_remove(f->seg, a.segment), -ENOENT);
}

/* A record appended but not settled may be one a commit in flight is about to point at: its
 * segment stays busy after it is rolled, and gc may not remove it, until it is settled. */
static void test_unsettled_record_keeps_its_segment_busy(void **state)
{
	struct fixture *f = *state;
	struct extent a = append(f, 2, 0, 10, 1), b = append(f, 2, 1, 10, 2);

	assert_int_equal(seg_roll(f->seg), 0);
	assert_true(seg_busy(f->seg, a.segment));
	seg_settle(f->seg, &a);
	assert_true(seg_busy(f->seg, a.segment)); /* b still pending */
	assert_int_equal(seg_remove(f->seg, a.segment), -EBUSY);
	seg_settle(f->seg, &b);
	assert_false(seg_busy(f->seg, a.segment));
	assert_true(seg_busy(f->seg, seg_tail(f->seg))); /* the open segment always is */
	assert_int_equal(seg_remove(f->seg, a.segment), 0);
}

struct appender {
	struct fixture *f;
	uint8_t fill;
	int failures;
};

/* Appends records and reads each back at once, from several threads at a time. */
static void *append_and_read(void *p)
{
	struct appender *a = p;
	uint8_t payload[300], buf[300];

	memset(payload, a->fill, sizeof(payload));
	for (uint32_t i = 0; i < 300; i++) {
		struct seg_record_info info = {
		    .codec = 1, .raw_len = i, .block = i, .ino = a->fill};
		struct extent e;
		if (seg_append(a->f->seg, &info, payload, i, &e) != 0 ||
		    seg_record_read(a->f->seg, &e, buf, sizeof(buf)) != 0 ||
		    (i && (buf[0] != a->fill || buf[i - 1] != a->fill)))
			a->failures++;
	}
	return NULL;
}

static void test_appends_and_reads_from_many_threads(void **state)
{
	struct fixture *f = *state;
	enum { THREADS = 6 };
	pthread_t th[THREADS];
	struct appender a[THREADS];
	uint64_t total = 0;

	seg_close(f->seg);
	setenv("BOAFS_SEG_ROLL_BYTES", "20000", 1); /* so threads also race the roll-over */
	assert_int_equal(seg_open(f->dir, 0, &f->seg), 0);
	unsetenv("BOAFS_SEG_ROLL_BYTES");
	for (int i = 0; i < THREADS; i++) {
		a[i] = (struct appender){f, (uint8_t)(i + 1), 0};
		assert_int_equal(pthread_create(&th[i], NULL, append_and_read, &a[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(a[i].failures, 0);
	}
	assert_int_equal(seg_sync(f->seg), 0);
	/* every segment parses to the end, and together they hold every record */
	for (uint64_t id = 1;; id++) {
		char path[160];
		struct stat st;
		seg_path(f, id, path, sizeof(path));
		if (stat(path, &st) < 0)
			break;
		assert_int_equal(seg_each_record(f->seg, id, count_records, &total), 0);
	}
	assert_int_equal(total, THREADS * 300);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_record_round_trip),
	    T(test_first_segment_is_created_lazily),
	    T(test_record_header_is_documented_layout),
	    T(test_flipped_header_byte_is_eio),
	    T(test_flipped_magic_is_eio),
	    T(test_flipped_payload_byte_is_left_to_raw_checksum),
	    T(test_extent_disagreeing_with_header_is_eio),
	    T(test_truncated_segment_is_eio),
	    T(test_missing_segment_is_eio),
	    T(test_small_buffer_is_refused),
	    T(test_reopen_appends_to_a_new_segment),
	    T(test_open_skips_past_highest_segment_present),
	    T(test_open_without_create_needs_the_dir),
	    T(test_each_record_walks_all_records),
	    T(test_each_record_stops_at_damage_with_eio),
	    T(test_each_record_callback_stops_the_walk),
	    T(test_segment_rolls_over_past_roll_bytes),
	    T(test_failed_append_rolls_back_the_tail),
	    T(test_remove_deletes_the_file),
	    T(test_unsettled_record_keeps_its_segment_busy),
	    T(test_appends_and_reads_from_many_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
