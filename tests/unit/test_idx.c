/* Unit tests of the index (index/idx.h): each test is one behaviour, on a fresh index in a
 * temporary directory. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "idx.h"

struct fixture {
	char dir[64];
	struct idx *idx;
	uint32_t block_size;
};

static void rm_tree(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/boafs-idx-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	strcat(f->dir, "/index"); /* not there yet: idx_open creates it */
	f->block_size = 65536;
	assert_int_equal(idx_open(f->dir, 1, &f->block_size, 1000, 100, &f->idx), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	idx_close(f->idx);
	*strrchr(f->dir, '/') = '\0';
	rm_tree(f->dir);
	free(f);
	return 0;
}

static void reopen(struct fixture *f)
{
	idx_close(f->idx);
	f->idx = NULL;
	f->block_size = 0;
	assert_int_equal(idx_open(f->dir, 0, &f->block_size, 0, 0, &f->idx), 0);
}

static struct extent make_extent(uint64_t segment, uint64_t offset, uint32_t stored_len)
{
	struct extent e = {
	    .segment = segment,
	    .offset = offset,
	    .record_len = 48 + stored_len,
	    .stored_len = stored_len,
	    .raw_len = 65536,
	    .codec = 1,
	    .model_id = 7,
	    .raw_xxh64 = 0x0123456789abcdefull ^ offset,
	    .written_at_ns = 1700000000123456789ll,
	};
	return e;
}

/* ---- open / create ---- */

static void test_create_makes_dir_mode_0700(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
}

static void test_reopen_keeps_block_size_and_root(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	struct idx_inode root;

	reopen(f);
	assert_int_equal(f->block_size, 65536);
	assert_int_equal(idx_read_begin(f->idx, &t), 0);
	assert_int_equal(idx_inode_get(t, IDX_ROOT_INO, &root), 0);
	idx_read_end(t);
	assert_int_equal(root.ino, IDX_ROOT_INO);
	assert_int_equal(root.mode, S_IFDIR | 0755);
	assert_int_equal(root.nlink, 2);
	assert_int_equal(root.uid, 1000);
	assert_int_equal(root.gid, 100);
	assert_true(root.mtime_ns > 0);
}

static void test_meta_holds_version_uuid_and_next_ino(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	uint64_t v;
	uint8_t uuid[16], zero[16] = {0};
	size_t len = sizeof(uuid);

	assert_int_equal(idx_read_begin(f->idx, &t), 0);
	assert_int_equal(idx_meta_get_u64(t, "format_version", &v), 0);
	assert_int_equal(v, IDX_FORMAT_VERSION_MIN); /* until a feature needs more */
	assert_int_equal(idx_meta_get_u64(t, "block_size", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(idx_meta_get(t, "uuid", uuid, &len), 0);
	assert_int_equal(len, 16);
	assert_memory_not_equal(uuid, zero, 16);
	assert_int_equal(idx_meta_get_u64(t, "next_ino", &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(idx_meta_get_u64(t, "no such key", &v), -ENOENT);
	idx_read_end(t);
}

static void test_ino_alloc_counts_up_from_2(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	uint64_t a, b;

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_ino_alloc(t, &a), 0);
	assert_int_equal(idx_ino_alloc(t, &b), 0);
	assert_int_equal(idx_write_commit(t), 0);
	assert_int_equal(a, 2);
	assert_int_equal(b, 3);
	reopen(f);
	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_ino_alloc(t, &a), 0);
	assert_int_equal(idx_write_commit(t), 0);
	assert_int_equal(a, 4);
}

static void test_other_format_version_is_refused(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_meta_put_u64(t, "format_version", IDX_FORMAT_VERSION + 1), 0);
	assert_int_equal(idx_write_commit(t), 0);
	idx_close(f->idx);
	f->idx = NULL;
	assert_int_equal(idx_open(f->dir, 0, &f->block_size, 0, 0, &f->idx), -EPROTO);
	assert_null(f->idx);
}

static void test_format_is_raised_once_and_both_versions_open(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	uint64_t v;

	assert_int_equal(idx_format_version(f->idx), IDX_FORMAT_VERSION_MIN);
	reopen(f); /* an archive of the oldest version this build reads */
	assert_int_equal(idx_format_version(f->idx), IDX_FORMAT_VERSION_MIN);
	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_format_raise(t, 2), 0);
	assert_int_equal(idx_format_raise(t, 1), 0); /* never lowered */
	assert_int_equal(idx_format_raise(t, IDX_FORMAT_VERSION + 1), -EINVAL);
	assert_int_equal(idx_write_commit(t), 0);
	reopen(f);
	assert_int_equal(idx_format_version(f->idx), 2);
	assert_int_equal(idx_read_begin(f->idx, &t), 0);
	assert_int_equal(idx_meta_get_u64(t, "format_version", &v), 0);
	idx_read_end(t);
	assert_int_equal(v, 2);
}

static void test_aborted_raise_leaves_the_version(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_format_raise(t, 2), 0);
	idx_write_abort(t);
	reopen(f);
	assert_int_equal(idx_format_version(f->idx), IDX_FORMAT_VERSION_MIN);
}

static void test_version_below_the_oldest_is_refused(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_meta_put_u64(t, "format_version", IDX_FORMAT_VERSION_MIN - 1), 0);
	assert_int_equal(idx_write_commit(t), 0);
	idx_close(f->idx);
	f->idx = NULL;
	assert_int_equal(idx_open(f->dir, 0, &f->block_size, 0, 0, &f->idx), -EPROTO);
}

static int count_unwrap(void *arg, uint64_t ino, const void *value, size_t len)
{
	(void)value;
	*(uint64_t *)arg += ino * 1000 + len;
	return 0;
}

static void test_unwrap_values_put_get_delete_and_walk(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	const void *v;
	size_t len;
	uint64_t sum = 0;

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_unwrap_put(t, 7, "seven", 5), 0);
	assert_int_equal(idx_unwrap_put(t, 300, "three hundred", 13), 0);
	assert_int_equal(idx_write_commit(t), 0);
	reopen(f);
	assert_int_equal(idx_read_begin(f->idx, &t), 0);
	assert_int_equal(idx_unwrap_get(t, 7, &v, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(v, "seven", 5);
	assert_int_equal(idx_unwrap_get(t, 8, &v, &len), -ENOENT);
	assert_int_equal(idx_unwrap_each(t, count_unwrap, &sum), 0);
	idx_read_end(t);
	assert_int_equal(sum, 7 * 1000 + 5 + 300 * 1000 + 13);
	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_unwrap_del(t, 7), 0);
	assert_int_equal(idx_unwrap_del(t, 7), -ENOENT);
	assert_int_equal(idx_write_commit(t), 0);
	assert_int_equal(idx_read_begin(f->idx, &t), 0);
	assert_int_equal(idx_unwrap_get(t, 7, &v, &len), -ENOENT);
	idx_read_end(t);
}

static void test_garbage_dir_is_refused(void **state)
{
	struct fixture *f = *state;
	char dir[96];
	char path[128];
	FILE *fp;
	struct idx *idx = NULL;
	uint32_t bs = 0;

	snprintf(dir, sizeof(dir), "%s-garbage", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 4096; i++)
		fputc("not lmdb"[i % 8], fp);
	fclose(fp);
	assert_int_equal(idx_open(dir, 0, &bs, 0, 0, &idx), -EINVAL);
	assert_null(idx);
}

static void test_empty_dir_without_create_is_refused(void **state)
{
	struct fixture *f = *state;
	char dir[96];
	char path[128];
	struct idx *idx = NULL;
	uint32_t bs = 0;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s-empty", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(idx_open(dir, 0, &bs, 0, 0, &idx), -EINVAL);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	assert_int_equal(stat(path, &st), -1); /* and nothing was created there */
}

/* ---- inodes ---- */

static void test_inode_round_trip(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	struct idx_inode in = {
	    .ino = 0x0102030405060708ull,
	    .mode = S_IFREG | 0640,
	    .uid = 4000000000u,
	    .gid = 12,
	    .nlink = 3,
	    .size = 0xfedcba9876543210ull,
	    .stored_bytes = 1234567,
	    .atime_ns = -5,
	    .mtime_ns = 1700000000000000001ll,
	    .ctime_ns = 1700000000000000002ll,
	    .generation = 99,
	    .rdev = 0x0801,
	};
	struct idx_inode out;

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_inode_put(t, &in), 0);
	assert_int_equal(idx_write_commit(t), 0);
	reopen(f);
	assert_int_equal(idx_read_begin(f->idx, &t), 0);
	memset(&out, 0xaa, sizeof(out));
	assert_int_equal(idx_inode_get(t, in.ino, &out), 0);
	idx_read_end(t);
	assert_memory_equal(&in, &out, sizeof(in));
}

static void test_inode_del_then_get_is_enoent(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	struct idx_inode in = {.ino = 5, .mode = S_IFREG | 0644, .nlink = 1}, out;

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_inode_put(t, &in), 0);
	assert_int_equal(idx_inode_del(t, 5), 0);
	assert_int_equal(idx_inode_get(t, 5, &out), -ENOENT);
	assert_int_equal(idx_inode_del(t, 5), -ENOENT);
	assert_int_equal(idx_write_commit(t), 0);
}

static void test_aborted_write_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	struct idx_inode in = {.ino = 9, .mode = S_IFREG | 0644, .nlink = 1}, out;

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_inode_put(t, &in), 0);
	idx_write_abort(t);
	assert_int_equal(idx_read_begin(f->idx, &t), 0);
	assert_int_equal(idx_inode_get(t, 9, &out), -ENOENT);
	idx_read_end(t);
}

/* ---- orphans ---- */

static int collect_ino(void *arg, uint64_t ino)
{
	uint64_t *list = arg;

	list[++list[0]] = ino;
	return 0;
}

static void test_orphans_add_walk_del(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	uint64_t list[8] = {0};

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_orphan_add(t, 300), 0);
	assert_int_equal(idx_orphan_add(t, 7), 0);
	assert_int_equal(idx_orphan_add(t, 256), 0);
	assert_int_equal(idx_write_commit(t), 0);
	reopen(f);

	assert_int_equal(idx_read_begin(f->idx, &t), 0);
	assert_int_equal(idx_orphan_each(t, collect_ino, list), 0);
	idx_read_end(t);
	assert_int_equal(list[0], 3);
	assert_int_equal(list[1], 7);
	assert_int_equal(list[2], 256);
	assert_int_equal(list[3], 300);

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_orphan_del(t, 256), 0);
	assert_int_equal(idx_orphan_del(t, 256), -ENOENT);
	assert_int_equal(idx_write_commit(t), 0);
	memset(list, 0, sizeof(list));
	assert_int_equal(idx_read_begin(f->idx, &t), 0);
	assert_int_equal(idx_orphan_each(t, collect_ino, list), 0);
	idx_read_end(t);
	assert_int_equal(list[0], 2);
	assert_int_equal(list[1], 7);
	assert_int_equal(list[2], 300);
}

/* ---- dirents ---- */

struct names {
	int count;
	char name[16][IDX_NAME_MAX + 1];
	uint64_t ino[16];
	uint8_t dtype[16];
};

static int collect_name(void *arg, const char *name, size_t namelen, uint64_t ino, uint8_t dtype)
{
	struct names *n = arg;

	assert_true(n->count < 16);
	memcpy(n->name[n->count], name, namelen);
	n->name[n->count][namelen] = '\0';
	n->ino[n->count] = ino;
	n->dtype[n->count] = dtype;
	n->count++;
	return 0;
}

static void put_dirent(struct idx_txn *t, uint64_t parent, const char *name, uint64_t ino)
{
	assert_int_equal(idx_dirent_put(t, parent, name, strlen(name), ino, 8), 0);
}

static void test_dirents_walk_in_name_order(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	struct names n = {0};

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	put_dirent(t, 1, "zeta", 10);
	put_dirent(t, 1, "ab", 11);
	put_dirent(t, 1, "a", 12);
	put_dirent(t, 1, "B", 13);
	assert_int_equal(idx_write_commit(t), 0);
	assert_int_equal(idx_read_begin(f->idx, &t), 0);
	assert_int_equal(idx_dirent_each(t, 1, collect_name, &n), 0);
	idx_read_end(t);
	assert_int_equal(n.count, 4);
	assert_string_equal(n.name[0], "B"); /* bytewise: 'B' < 'a' */
	assert_string_equal(n.name[1], "a");
	assert_string_equal(n.name[2], "ab");
	assert_string_equal(n.name[3], "zeta");
	assert_int_equal(n.ino[1], 12);
}

static void test_dirents_are_scoped_to_their_parent(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	struct names n1 = {0}, n255 = {0}, n256 = {0}, n257 = {0};

	/* 255 = 00..00ff and 256 = 00..0100: big-endian keys keep them apart and ordered */
	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	put_dirent(t, 1, "one", 2);
	put_dirent(t, 255, "in255", 3);
	put_dirent(t, 256, "in256", 4);
	put_dirent(t, 256, "also256", 5);
	put_dirent(t, 1ull << 56, "high", 6);
	assert_int_equal(idx_write_commit(t), 0);

	assert_int_equal(idx_read_begin(f->idx, &t), 0);
	assert_int_equal(idx_dirent_each(t, 1, collect_name, &n1), 0);
	assert_int_equal(idx_dirent_each(t, 255, collect_name, &n255), 0);
	assert_int_equal(idx_dirent_each(t, 256, collect_name, &n256), 0);
	assert_int_equal(idx_dirent_each(t, 257, collect_name, &n257), 0);
	idx_read_end(t);
	assert_int_equal(n1.count, 1);
	assert_string_equal(n1.name[0], "one");
	assert_int_equal(n255.count, 1);
	assert_string_equal(n255.name[0], "in255");
	assert_int_equal(n256.count, 2);
	assert_string_equal(n256.name[0], "also256");
	assert_string_equal(n256.name[1], "in256");
	assert_int_equal(n257.count, 0);
}

static void test_dirent_get_returns_ino_and_dtype(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	uint64_t ino = 0;
	uint8_t dtype = 0;

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_dirent_put(t, 1, "dir", 3, 42, 4 /* DT_DIR */), 0);
	assert_int_equal(idx_dirent_get(t, 1, "dir", 3, &ino, &dtype), 0);
	assert_int_equal(ino, 42);
	assert_int_equal(dtype, 4);
	assert_int_equal(idx_dirent_get(t, 1, "di", 2, &ino, &dtype), -ENOENT);
	assert_int_equal(idx_dirent_get(t, 2, "dir", 3, &ino, &dtype), -ENOENT);
	assert_int_equal(idx_dirent_del(t, 1, "dir", 3), 0);
	assert_int_equal(idx_dirent_get(t, 1, "dir", 3, &ino, &dtype), -ENOENT);
	assert_int_equal(idx_write_commit(t), 0);
}

static void test_dirent_name_limits(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	char longest[IDX_NAME_MAX + 1];
	uint64_t ino = 0;

	memset(longest, 'x', sizeof(longest));
	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_dirent_put(t, 1, longest, IDX_NAME_MAX, 77, 8), 0);
	assert_int_equal(idx_dirent_get(t, 1, longest, IDX_NAME_MAX, &ino, NULL), 0);
	assert_int_equal(ino, 77);
	assert_int_equal(idx_dirent_put(t, 1, longest, IDX_NAME_MAX + 1, 78, 8), -ENAMETOOLONG);
	assert_int_equal(idx_dirent_put(t, 1, "", 0, 78, 8), -EINVAL);
	idx_write_abort(t);
}

static int read_inode_per_entry(void *arg, const char *name, size_t namelen, uint64_t ino,
                                uint8_t dtype)
{
	struct idx_txn *t = arg;
	struct idx_inode in;

	/* a reading callback may use the same transaction */
	assert_int_equal(idx_inode_get(t, ino, &in), 0);
	assert_int_equal(in.ino, ino);
	return 0;
}

static int stop_at_second(void *arg, const char *name, size_t namelen, uint64_t ino, uint8_t dtype)
{
	int *seen = arg;

	return ++*seen == 2 ? 17 : 0;
}

static void test_dirent_walk_callback_may_read_and_stop(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	int seen = 0;

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	for (uint64_t i = 2; i < 40; i++) {
		char name[16];
		struct idx_inode in = {.ino = i, .mode = S_IFREG | 0644, .nlink = 1};
		snprintf(name, sizeof(name), "f%02llu", (unsigned long long)i);
		assert_int_equal(idx_inode_put(t, &in), 0);
		put_dirent(t, 1, name, i);
	}
	assert_int_equal(idx_write_commit(t), 0);
	assert_int_equal(idx_read_begin(f->idx, &t), 0);
	assert_int_equal(idx_dirent_each(t, 1, read_inode_per_entry, t), 0);
	assert_int_equal(idx_dirent_each(t, 1, stop_at_second, &seen), 17);
	assert_int_equal(seen, 2);
	idx_read_end(t);
}

static void test_dir_empty(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_dir_empty(t, 1), 0);
	put_dirent(t, 256, "x", 2);
	assert_int_equal(idx_dir_empty(t, 1), 0);
	assert_int_equal(idx_dir_empty(t, 255), 0);
	assert_int_equal(idx_dir_empty(t, 256), -ENOTEMPTY);
	assert_int_equal(idx_write_commit(t), 0);
}

/* ---- extents and segment accounting ---- */

static void test_extent_round_trip(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	struct extent e = make_extent(3, 4096, 1000), out;
	int64_t delta = 0;

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_extent_put(t, 2, 5, &e, &delta), 0);
	assert_int_equal(idx_write_commit(t), 0);
	assert_int_equal(delta, 1048);
	reopen(f);
	assert_int_equal(idx_read_begin(f->idx, &t), 0);
	memset(&out, 0, sizeof(out));
	assert_int_equal(idx_extent_get(t, 2, 5, &out), 0);
	assert_int_equal(idx_extent_get(t, 2, 4, &out) == -ENOENT, 1);
	assert_int_equal(idx_extent_get(t, 2, 5, &out), 0);
	idx_read_end(t);
	assert_int_equal(out.segment, e.segment);
	assert_int_equal(out.offset, e.offset);
	assert_int_equal(out.record_len, e.record_len);
	assert_int_equal(out.stored_len, e.stored_len);
	assert_int_equal(out.raw_len, e.raw_len);
	assert_int_equal(out.codec, e.codec);
	assert_int_equal(out.model_id, e.model_id);
	assert_int_equal(out.raw_xxh64, e.raw_xxh64);
	assert_int_equal(out.written_at_ns, e.written_at_ns);
}

static void test_extent_replace_moves_old_bytes_to_dead(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	struct extent a = make_extent(1, 0, 1000), b = make_extent(2, 0, 300);
	struct idx_segment_usage u1, u2;
	int64_t delta = 0;

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_extent_put(t, 2, 0, &a, &delta), 0);
	assert_int_equal(delta, 1048);
	assert_int_equal(idx_extent_put(t, 2, 0, &b, &delta), 0);
	assert_int_equal(delta, 348 - 1048);
	assert_int_equal(idx_segment_get(t, 1, &u1), 0);
	assert_int_equal(idx_segment_get(t, 2, &u2), 0);
	assert_int_equal(u1.live_bytes, 0);
	assert_int_equal(u1.dead_bytes, 1048);
	assert_int_equal(u2.live_bytes, 348);
	assert_int_equal(u2.dead_bytes, 0);
	assert_int_equal(idx_segment_get(t, 3, &u1), -ENOENT);
	assert_int_equal(idx_write_commit(t), 0);
}

static void test_extent_put_of_same_record_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	struct extent a = make_extent(1, 0, 1000);
	struct idx_segment_usage u;
	int64_t delta = 0;

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_extent_put(t, 2, 0, &a, &delta), 0);
	assert_int_equal(idx_extent_put(t, 2, 0, &a, &delta), 0);
	assert_int_equal(delta, 0);
	assert_int_equal(idx_segment_get(t, 1, &u), 0);
	assert_int_equal(u.live_bytes, 1048);
	assert_int_equal(u.dead_bytes, 0);
	assert_int_equal(idx_write_commit(t), 0);
}

static void test_extent_del_accounts_dead_bytes(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	struct extent a = make_extent(1, 0, 100), b = make_extent(1, 148, 200), out;
	struct idx_segment_usage u;
	int64_t delta = 0;

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_extent_put(t, 2, 0, &a, NULL), 0);
	assert_int_equal(idx_extent_put(t, 2, 1, &b, NULL), 0);
	assert_int_equal(idx_extent_del(t, 2, 0, &delta), 0);
	assert_int_equal(delta, -148);
	assert_int_equal(idx_extent_get(t, 2, 0, &out), -ENOENT);
	assert_int_equal(idx_extent_del(t, 2, 0, &delta), -ENOENT);
	assert_int_equal(idx_segment_get(t, 1, &u), 0);
	assert_int_equal(u.live_bytes, 248);
	assert_int_equal(u.dead_bytes, 148);
	assert_int_equal(idx_write_commit(t), 0);
}

struct blocks {
	int count;
	uint64_t ino[64];
	uint64_t block[64];
};

static int collect_block(void *arg, uint64_t ino, uint64_t block, const struct extent *e)
{
	struct blocks *b = arg;

	assert_true(b->count < 64);
	b->ino[b->count] = ino;
	b->block[b->count] = block;
	b->count++;
	return 0;
}

static void test_truncate_deletes_exactly_blocks_from_first(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	struct idx_segment_usage u;
	struct blocks b = {0};
	int64_t delta = 0;

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	/* neighbours: ino 255 and 257 must survive the truncate of 256 */
	for (uint64_t no = 0; no < 10; no++) {
		struct extent e = make_extent(1, no * 1000, 100);
		assert_int_equal(idx_extent_put(t, 255, no, &e, NULL), 0);
		e.offset += 100000;
		assert_int_equal(idx_extent_put(t, 256, no, &e, NULL), 0);
		e.offset += 100000;
		assert_int_equal(idx_extent_put(t, 257, no, &e, NULL), 0);
	}
	{ /* a block past 255 (key byte 0xff vs 0x0100) */
		struct extent e = make_extent(1, 900000, 100);
		assert_int_equal(idx_extent_put(t, 256, 256, &e, NULL), 0);
	}
	assert_int_equal(idx_extent_del_from(t, 256, 4, &delta), 0);
	assert_int_equal(delta, -7 * 148);
	assert_int_equal(idx_segment_get(t, 1, &u), 0);
	assert_int_equal(u.dead_bytes, 7 * 148);
	assert_int_equal(u.live_bytes, (31 - 7) * 148);
	assert_int_equal(idx_extent_each_all(t, collect_block, &b), 0);
	assert_int_equal(idx_write_commit(t), 0);

	assert_int_equal(b.count, 24);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(b.ino[i], 255);
		assert_int_equal(b.block[i], i);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(b.ino[10 + i], 256);
		assert_int_equal(b.block[10 + i], i);
	}
	for (int i = 0; i < 10; i++) {
		assert_int_equal(b.ino[14 + i], 257);
		assert_int_equal(b.block[14 + i], i);
	}
}

static void test_unlink_deletes_all_blocks_from_zero(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	struct blocks b = {0};
	int64_t delta = 0;

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	for (uint64_t no = 0; no < 3; no++) {
		struct extent e = make_extent(1, no * 1000, 10);
		assert_int_equal(idx_extent_put(t, 9, no, &e, NULL), 0);
	}
	assert_int_equal(idx_extent_del_from(t, 9, 0, &delta), 0);
	assert_int_equal(delta, -3 * 58);
	assert_int_equal(idx_extent_del_from(t, 9, 0, &delta), 0); /* nothing left: fine */
	assert_int_equal(delta, 0);
	assert_int_equal(idx_extent_each_all(t, collect_block, &b), 0);
	assert_int_equal(b.count, 0);
	assert_int_equal(idx_write_commit(t), 0);
}

static void test_extent_each_walks_only_the_range(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	struct blocks b = {0};

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	for (uint64_t no = 0; no < 20; no += 2) {
		struct extent e = make_extent(1, no * 1000, 10);
		assert_int_equal(idx_extent_put(t, 3, no, &e, NULL), 0);
		assert_int_equal(idx_extent_put(t, 4, no, &e, NULL), 0);
	}
	assert_int_equal(idx_write_commit(t), 0);
	assert_int_equal(idx_read_begin(f->idx, &t), 0);
	assert_int_equal(idx_extent_each(t, 3, 5, 12, collect_block, &b), 0);
	idx_read_end(t);
	assert_int_equal(b.count, 4);
	assert_int_equal(b.block[0], 6);
	assert_int_equal(b.block[3], 12);
	for (int i = 0; i < 4; i++)
		assert_int_equal(b.ino[i], 3);
}

/* ---- xattrs ---- */

static void test_xattrs_put_get_list_del(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	char buf[64];
	size_t len;

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_xattr_put(t, 2, "user.b", "two", 3), 0);
	assert_int_equal(idx_xattr_put(t, 2, "user.a", "one", 3), 0);
	assert_int_equal(idx_xattr_put(t, 3, "user.other", "x", 1), 0);
	assert_int_equal(idx_xattr_put(t, 2, "user.empty", "", 0), 0);
	assert_int_equal(idx_write_commit(t), 0);

	assert_int_equal(idx_read_begin(f->idx, &t), 0);
	len = sizeof(buf);
	assert_int_equal(idx_xattr_get(t, 2, "user.a", buf, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "one", 3);
	len = 0; /* size query */
	assert_int_equal(idx_xattr_get(t, 2, "user.b", NULL, &len), 0);
	assert_int_equal(len, 3);
	len = 2;
	assert_int_equal(idx_xattr_get(t, 2, "user.b", buf, &len), -ERANGE);
	len = sizeof(buf);
	assert_int_equal(idx_xattr_get(t, 2, "user.empty", buf, &len), 0);
	assert_int_equal(len, 0);
	len = sizeof(buf);
	assert_int_equal(idx_xattr_get(t, 2, "user.none", buf, &len), -ENODATA);

	assert_int_equal(idx_xattr_list(t, 2, NULL, 0, &len), 0);
	assert_int_equal(len, sizeof("user.a") + sizeof("user.b") + sizeof("user.empty"));
	assert_int_equal(idx_xattr_list(t, 2, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "user.a\0user.b\0user.empty\0", len);
	assert_int_equal(idx_xattr_list(t, 2, buf, 5, &len), -ERANGE);
	idx_read_end(t);

	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_xattr_del(t, 2, "user.a"), 0);
	assert_int_equal(idx_xattr_del(t, 2, "user.a"), -ENODATA);
	assert_int_equal(idx_xattr_list(t, 2, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "user.b\0user.empty\0", len);
	assert_int_equal(idx_xattr_del_all(t, 2), 0);
	assert_int_equal(idx_xattr_list(t, 2, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(idx_xattr_list(t, 3, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "user.other\0", len);
	assert_int_equal(idx_write_commit(t), 0);
}

static void test_xattr_value_of_64k_fits_and_more_does_not(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	size_t big = 64 << 10, len = big;
	char *value = malloc(big + 1), *back = malloc(big);

	memset(value, 'v', big + 1);
	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_xattr_put(t, 2, "user.big", value, big), 0);
	assert_int_equal(idx_xattr_put(t, 2, "user.huge", value, big + 1), -E2BIG);
	assert_int_equal(idx_xattr_get(t, 2, "user.big", back, &len), 0);
	assert_int_equal(len, big);
	assert_memory_equal(back, value, big);
	assert_int_equal(idx_write_commit(t), 0);
	free(value);
	free(back);
}

/* ---- models ---- */

static void test_model_round_trip(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	const void *bytes;
	size_t len;
	uint8_t model[3000];

	for (size_t i = 0; i < sizeof(model); i++)
		model[i] = (uint8_t)(i * 7);
	assert_int_equal(idx_write_begin(f->idx, &t), 0);
	assert_int_equal(idx_model_put(t, 1, model, sizeof(model)), 0);
	assert_int_equal(idx_write_commit(t), 0);
	assert_int_equal(idx_read_begin(f->idx, &t), 0);
	assert_int_equal(idx_model_get(t, 1, &bytes, &len), 0);
	assert_int_equal(len, sizeof(model));
	assert_memory_equal(bytes, model, len);
	assert_int_equal(idx_model_get(t, 2, &bytes, &len), -ENOENT);
	idx_read_end(t);
}

/* ---- map growth ---- */

static void test_tiny_map_grows_after_eagain_retries(void **state)
{
	struct fixture *f = *state;
	char dir[96];
	struct idx *idx;
	struct idx_txn *t;
	uint32_t bs = 4096;
	int eagain = 0, rc;
	uint64_t next = 0;
	const uint64_t total = 20000;
	uint8_t model[2000] = {1};

	snprintf(dir, sizeof(dir), "%s-tiny", f->dir);
	setenv("BOAFS_IDX_MAP_SIZE", "65536", 1);
	rc = idx_open(dir, 1, &bs, 0, 0, &idx);
	unsetenv("BOAFS_IDX_MAP_SIZE");
	assert_int_equal(rc, 0);

	/* The daemon's loop: a batch that runs out of map is aborted and retried whole. */
	while (next < total) {
		assert_int_equal(idx_write_begin(idx, &t), 0);
		rc = 0;
		for (uint64_t i = next; i < next + 1000 && i < total && !rc; i++) {
			struct extent e = make_extent(1 + i / 5000, i * 100, 52);
			rc = idx_extent_put(t, 2 + i / 1000, i % 1000, &e, NULL);
			if (!rc && i % 1000 == 0)
				rc = idx_model_put(t, (uint32_t)i, model, sizeof(model));
		}
		if (rc == -EAGAIN) {
			idx_write_abort(t);
			eagain++;
			continue;
		}
		assert_int_equal(rc, 0);
		rc = idx_write_commit(t);
		if (rc == -EAGAIN) {
			eagain++;
			continue;
		}
		assert_int_equal(rc, 0);
		next += 1000;
	}
	assert_true(eagain > 0);

	/* everything is there, also after reopening with the grown map */
	idx_close(idx);
	assert_int_equal(idx_open(dir, 0, &bs, 0, 0, &idx), 0);
	assert_int_equal(idx_read_begin(idx, &t), 0);
	for (uint64_t i = 0; i < total; i += 997) {
		struct extent e;
		assert_int_equal(idx_extent_get(t, 2 + i / 1000, i % 1000, &e), 0);
		assert_int_equal(e.offset, i * 100);
	}
	idx_read_end(t);
	idx_close(idx);
}

static void test_calls_after_map_full_return_eagain_and_commit_too(void **state)
{
	struct fixture *f = *state;
	char dir[96];
	struct idx *idx;
	struct idx_txn *t;
	struct idx_inode in = {.ino = 2, .mode = S_IFREG | 0644, .nlink = 1};
	uint32_t bs = 4096;
	uint64_t i;
	int rc = 0;

	snprintf(dir, sizeof(dir), "%s-full", f->dir);
	setenv("BOAFS_IDX_MAP_SIZE", "65536", 1);
	rc = idx_open(dir, 1, &bs, 0, 0, &idx);
	unsetenv("BOAFS_IDX_MAP_SIZE");
	assert_int_equal(rc, 0);

	assert_int_equal(idx_write_begin(idx, &t), 0);
	for (i = 0; i < 100000 && !rc; i++) {
		struct extent e = make_extent(1, i, 10);
		rc = idx_extent_put(t, 2, i, &e, NULL);
	}
	assert_int_equal(rc, -EAGAIN);
	assert_int_equal(idx_inode_put(t, &in), -EAGAIN);
	assert_int_equal(idx_write_commit(t), -EAGAIN);
	/* the map has grown: a small transaction goes through */
	assert_int_equal(idx_write_begin(idx, &t), 0);
	assert_int_equal(idx_inode_put(t, &in), 0);
	assert_int_equal(idx_write_commit(t), 0);
	idx_close(idx);
}

/* ---- read transactions ---- */

struct reader_arg {
	struct idx *idx;
	int cycles;
	int failures;
};

static void *reader_thread(void *p)
{
	struct reader_arg *a = p;

	for (int i = 0; i < a->cycles; i++) {
		struct idx_txn *t;
		struct idx_inode root;
		if (idx_read_begin(a->idx, &t) != 0) {
			a->failures++;
			continue;
		}
		if (idx_inode_get(t, IDX_ROOT_INO, &root) != 0 || root.nlink != 2)
			a->failures++;
		idx_read_end(t);
	}
	return NULL;
}

static void test_read_txn_reuse_across_threads(void **state)
{
	struct fixture *f = *state;
	enum { THREADS = 8 };
	pthread_t th[THREADS];
	struct reader_arg a[THREADS];

	for (int round = 0; round < 3; round++) { /* threads that end return their slots */
		for (int i = 0; i < THREADS; i++) {
			a[i] = (struct reader_arg){f->idx, 5000, 0};
			assert_int_equal(pthread_create(&th[i], NULL, reader_thread, &a[i]), 0);
		}
		/* meanwhile, the writer commits */
		for (int i = 0; i < 50; i++) {
			struct idx_txn *t;
			struct idx_inode in = {.ino = 100 + i, .mode = S_IFREG, .nlink = 1};
			assert_int_equal(idx_write_begin(f->idx, &t), 0);
			assert_int_equal(idx_inode_put(t, &in), 0);
			assert_int_equal(idx_write_commit(t), 0);
		}
		for (int i = 0; i < THREADS; i++) {
			assert_int_equal(pthread_join(th[i], NULL), 0);
			assert_int_equal(a[i].failures, 0);
		}
	}
}

static void test_map_grows_while_other_threads_read(void **state)
{
	struct fixture *f = *state;
	enum { THREADS = 4 };
	char dir[96];
	struct idx *idx;
	struct idx_txn *t;
	pthread_t th[THREADS];
	struct reader_arg a[THREADS];
	uint32_t bs = 4096;
	uint64_t next = 0;
	int eagain = 0, rc;

	snprintf(dir, sizeof(dir), "%s-grow", f->dir);
	setenv("BOAFS_IDX_MAP_SIZE", "65536", 1);
	rc = idx_open(dir, 1, &bs, 0, 0, &idx);
	unsetenv("BOAFS_IDX_MAP_SIZE");
	assert_int_equal(rc, 0);
	for (int i = 0; i < THREADS; i++) {
		a[i] = (struct reader_arg){idx, 20000, 0};
		assert_int_equal(pthread_create(&th[i], NULL, reader_thread, &a[i]), 0);
	}
	while (next < 10000) {
		assert_int_equal(idx_write_begin(idx, &t), 0);
		rc = 0;
		for (uint64_t i = next; i < next + 500 && !rc; i++) {
			struct extent e = make_extent(1, i, 10);
			rc = idx_extent_put(t, 2, i, &e, NULL);
		}
		if (!rc)
			rc = idx_write_commit(t);
		else
			idx_write_abort(t);
		if (rc == -EAGAIN) {
			eagain++;
			continue;
		}
		assert_int_equal(rc, 0);
		next += 500;
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(a[i].failures, 0);
	}
	assert_true(eagain > 0);
	idx_close(idx);
}

static void test_read_txn_sees_commits_after_renew(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *r, *w;
	struct idx_inode in = {.ino = 77, .mode = S_IFREG, .nlink = 1}, out;

	assert_int_equal(idx_read_begin(f->idx, &r), 0);
	assert_int_equal(idx_inode_get(r, 77, &out), -ENOENT);
	assert_int_equal(idx_write_begin(f->idx, &w), 0);
	assert_int_equal(idx_inode_put(w, &in), 0);
	assert_int_equal(idx_write_commit(w), 0);
	assert_int_equal(idx_inode_get(r, 77, &out), -ENOENT); /* still its snapshot */
	idx_read_end(r);
	assert_int_equal(idx_read_begin(f->idx, &r), 0);
	assert_int_equal(idx_inode_get(r, 77, &out), 0);
	idx_read_end(r);
}

static void test_nested_read_begin_shares_the_txn(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *a, *b;
	struct idx_inode out;

	assert_int_equal(idx_read_begin(f->idx, &a), 0);
	assert_int_equal(idx_read_begin(f->idx, &b), 0);
	assert_ptr_equal(a, b);
	idx_read_end(b);
	assert_int_equal(idx_inode_get(a, IDX_ROOT_INO, &out), 0); /* a still usable */
	idx_read_end(a);
}

static void test_writes_in_read_txn_are_refused(void **state)
{
	struct fixture *f = *state;
	struct idx_txn *t;
	struct idx_inode in = {.ino = 5};

	assert_int_equal(idx_read_begin(f->idx, &t), 0);
	assert_int_equal(idx_inode_put(t, &in), -EROFS);
	idx_read_end(t);
}

static void test_sync_succeeds(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(idx_sync(f->idx), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_create_makes_dir_mode_0700),
	    T(test_reopen_keeps_block_size_and_root),
	    T(test_meta_holds_version_uuid_and_next_ino),
	    T(test_ino_alloc_counts_up_from_2),
	    T(test_other_format_version_is_refused),
	    T(test_format_is_raised_once_and_both_versions_open),
	    T(test_aborted_raise_leaves_the_version),
	    T(test_version_below_the_oldest_is_refused),
	    T(test_unwrap_values_put_get_delete_and_walk),
	    T(test_garbage_dir_is_refused),
	    T(test_empty_dir_without_create_is_refused),
	    T(test_inode_round_trip),
	    T(test_inode_del_then_get_is_enoent),
	    T(test_aborted_write_leaves_nothing),
	    T(test_orphans_add_walk_del),
	    T(test_dirents_walk_in_name_order),
	    T(test_dirents_are_scoped_to_their_parent),
	    T(test_dirent_get_returns_ino_and_dtype),
	    T(test_dirent_name_limits),
	    T(test_dirent_walk_callback_may_read_and_stop),
	    T(test_dir_empty),
	    T(test_extent_round_trip),
	    T(test_extent_replace_moves_old_bytes_to_dead),
	    T(test_extent_put_of_same_record_changes_nothing),
	    T(test_extent_del_accounts_dead_bytes),
	    T(test_truncate_deletes_exactly_blocks_from_first),
	    T(test_unlink_deletes_all_blocks_from_zero),
	    T(test_extent_each_walks_only_the_range),
	    T(test_xattrs_put_get_list_del),
	    T(test_xattr_value_of_64k_fits_and_more_does_not),
	    T(test_model_round_trip),
	    T(test_tiny_map_grows_after_eagain_retries),
	    T(test_calls_after_map_full_return_eagain_and_commit_too),
	    T(test_read_txn_reuse_across_threads),
	    T(test_map_grows_while_other_threads_read),
	    T(test_read_txn_sees_commits_after_renew),
	    T(test_nested_read_begin_shares_the_txn),
	    T(test_writes_in_read_txn_are_refused),
	    T(test_sync_succeeds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
