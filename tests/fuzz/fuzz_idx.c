/* fuzz_idx — libFuzzer target for the index's value decoders (index/idx.c).
 *
 * A scratch index is made once with idx_open. For each input, the raw LMDB API (a separate
 * environment handle, opened and closed around the writes, so that only one handle is open at a
 * time) empties the inodes, dirents, blocks, xattrs, orphans, segments and models databases and
 * puts the entries the input describes: keys of any length or, mostly, the keys the reads below
 * ask for, and values of any length and content. Flag bit 0 of the first byte also lets entries
 * go to `meta` (format version, block size, counters). Then idx_open reads the environment and
 * every reader of idx.h walks it: idx_inode_get/each, idx_extent_get/each/each_all/each_from,
 * idx_dirent_get/each/each_all, idx_dir_empty, idx_xattr_get/list, idx_orphan_each,
 * idx_segment_get/each, idx_model_get/each, idx_meta_get*, and, in a write transaction that is
 * aborted, idx_extent_put/del/del_from and idx_ino_alloc (which read the old values to account
 * segment usage). Errors are expected; crashes, leaks and out-of-bounds reads are not. */
#include <errno.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idx.h"

static char idx_dir[256];

static const char *const fuzzed_dbs[] = {"inodes",  "dirents",  "blocks", "xattrs",
                                         "orphans", "segments", "models", "meta"};
#define NDB (sizeof(fuzzed_dbs) / sizeof(fuzzed_dbs[0]))

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	uint32_t bs = 16384;
	struct idx *idx;

	(void)argc;
	(void)argv;
	snprintf(idx_dir, sizeof(idx_dir), "%s/boafs-fuzz-idx.XXXXXX", base);
	if (!mkdtemp(idx_dir) || idx_open(idx_dir, 1, &bs, 0, 0, &idx)) {
		fprintf(stderr, "fuzz_idx: cannot make an index in %s\n", idx_dir);
		abort();
	}
	idx_close(idx);
	return 0;
}

/* A key the readers below ask for, chosen by one byte. */
static size_t likely_key(int db, uint8_t b, uint8_t *key)
{
	static const char *const names[] = {"a",          "b",        "user.x", "format_version",
	                                    "block_size", "next_ino", "uuid"};
	const char *name = names[b % 7];

	switch (db) {
	case 0: /* inodes */
	case 4: /* orphans */
		be64(key, 1 + b % 4);
		return 8;
	case 1: /* dirents: parent, name */
	case 3: /* xattrs: ino, name */
		be64(key, 1 + (b >> 6) % 2);
		memcpy(key + 8, name, strlen(name));
		return 8 + strlen(name);
	case 2: /* blocks: ino, block */
		be64(key, 1 + b % 4);
		be64(key + 8, (b >> 2) % 4);
		return 16;
	case 5: /* segments */
		be64(key, b % 4);
		return 8;
	case 6: /* models: u32 BE */
		memset(key, 0, 4);
		key[3] = b % 3;
		return 4;
	default: /* meta */
		memcpy(key, name, strlen(name));
		return strlen(name);
	}
}

/* Writes the input's entries through a raw LMDB handle; 0 when the index may be opened. */
static int put_entries(const uint8_t *data, size_t size)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi[NDB];
	uint8_t flags = data[0];
	size_t pos = 1;
	int rc;

	if (mdb_env_create(&env))
		return -1;
	mdb_env_set_maxdbs(env, 16);
	mdb_env_set_mapsize(env, 64 << 20);
	rc = mdb_env_open(env, idx_dir, 0, 0600);
	if (!rc)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc) {
		mdb_env_close(env);
		return -1;
	}
	for (size_t i = 0; i < NDB && !rc; i++) {
		rc = mdb_dbi_open(txn, fuzzed_dbs[i], MDB_CREATE, &dbi[i]);
		if (!rc && i < NDB - 1)
			rc = mdb_drop(txn, dbi[i], 0);
	}
	while (!rc && pos + 3 <= size) {
		uint8_t sel = data[pos++], klen = data[pos++], key[512];
		int db = sel % (flags & 1 ? NDB : NDB - 1);
		MDB_val k, v;
		size_t vlen;

		if (sel & 0x80) {
			k.mv_size = likely_key(db, klen, key);
		} else {
			k.mv_size = klen < size - pos ? klen : size - pos;
			memcpy(key, data + pos, k.mv_size);
			pos += k.mv_size;
		}
		k.mv_data = key;
		if (pos >= size)
			break;
		vlen = data[pos++];
		if (vlen == 0xff && pos < size)
			vlen = (size_t)data[pos++] << 4; /* a long value now and then */
		v.mv_size = vlen < size - pos ? vlen : size - pos;
		v.mv_data = (void *)(data + pos);
		pos += v.mv_size;
		if (k.mv_size == 0)
			continue;
		rc = mdb_put(txn, dbi[db], &k, &v, 0);
		if (rc == MDB_BAD_VALSIZE || rc == EINVAL)
			rc = 0;
	}
	if (rc)
		mdb_txn_abort(txn);
	else
		rc = mdb_txn_commit(txn);
	mdb_env_close(env);
	return rc ? -1 : 0;
}

/* Puts meta back as idx_open made it, so that the next input starts from a valid index. */
static void restore_meta(void)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t one[8] = {1}, bs[8] = {0, 0x40}, next[8] = {2};
	MDB_val k, v;

	if (mdb_env_create(&env))
		abort();
	mdb_env_set_maxdbs(env, 16);
	mdb_env_set_mapsize(env, 64 << 20);
	if (mdb_env_open(env, idx_dir, 0, 0600) || mdb_txn_begin(env, NULL, 0, &txn) ||
	    mdb_dbi_open(txn, "meta", MDB_CREATE, &dbi))
		abort();
	mdb_drop(txn, dbi, 0);
	k = (MDB_val){14, "format_version"};
	v = (MDB_val){8, one};
	mdb_put(txn, dbi, &k, &v, 0);
	k = (MDB_val){10, "block_size"};
	v = (MDB_val){8, bs};
	mdb_put(txn, dbi, &k, &v, 0);
	k = (MDB_val){8, "next_ino"};
	v = (MDB_val){8, next};
	mdb_put(txn, dbi, &k, &v, 0);
	k = (MDB_val){4, "uuid"};
	v = (MDB_val){16, "0123456789abcdef"};
	mdb_put(txn, dbi, &k, &v, 0);
	if (mdb_txn_commit(txn))
		abort();
	mdb_env_close(env);
}

static uint64_t touched;

static int on_extent(void *arg, uint64_t ino, uint64_t block, const struct extent *e)
{
	(void)arg;
	touched += ino + block + e->segment + e->offset + e->stored_len + e->raw_len + e->codec;
	return 0;
}

static int on_dirent(void *arg, const char *name, size_t namelen, uint64_t ino, uint8_t dtype)
{
	(void)arg;
	for (size_t i = 0; i < namelen; i++)
		touched += (uint8_t)name[i];
	touched += ino + dtype;
	return 0;
}

static int on_dirent_all(void *arg, uint64_t parent, const char *name, size_t namelen, uint64_t ino,
                         uint8_t dtype)
{
	return on_dirent(arg, name, namelen, ino + parent, dtype);
}

static int on_ino(void *arg, uint64_t ino)
{
	(void)arg;
	touched += ino;
	return 0;
}

static int on_inode(void *arg, const struct idx_inode *in)
{
	(void)arg;
	touched += in->ino + in->mode + in->size + in->nlink;
	return 0;
}

static int on_segment(void *arg, uint64_t segment, const struct idx_segment_usage *u)
{
	(void)arg;
	touched += segment + u->live_bytes + u->dead_bytes;
	return 0;
}

static int on_model(void *arg, uint32_t id, const void *bytes, size_t len)
{
	(void)arg;
	touched += id + len + (len ? ((const uint8_t *)bytes)[len - 1] : 0);
	return 0;
}

static void read_everything(struct idx *idx)
{
	struct idx_txn *t;
	struct idx_inode in;
	struct idx_segment_usage u;
	struct extent e;
	char buf[1024];
	const void *bytes;
	size_t len;
	uint64_t ino, v;
	uint8_t dtype;

	if (idx_read_begin(idx, &t))
		return;
	for (uint64_t i = 1; i <= 4; i++) {
		idx_inode_get(t, i, &in);
		for (uint64_t b = 0; b < 4; b++)
			idx_extent_get(t, i, b, &e);
		idx_extent_each(t, i, 0, 100, on_extent, NULL);
		idx_extent_each_from(t, i, 1, on_extent, NULL);
		idx_dirent_get(t, i, "a", 1, &ino, &dtype);
		idx_dirent_each(t, i, on_dirent, NULL);
		idx_dir_empty(t, i);
		len = sizeof(buf);
		idx_xattr_get(t, i, "user.x", buf, &len);
		len = 0;
		idx_xattr_get(t, i, "user.x", NULL, &len);
		idx_xattr_list(t, i, buf, sizeof(buf), &len);
		idx_xattr_list(t, i, NULL, 0, &len);
		idx_xattr_list(t, i, buf, 3, &len);
		idx_segment_get(t, i - 1, &u);
		idx_model_get(t, (uint32_t)i - 1, &bytes, &len);
	}
	idx_extent_each_all(t, on_extent, NULL);
	idx_inode_each(t, on_inode, NULL);
	idx_dirent_each_all(t, on_dirent_all, NULL);
	idx_orphan_each(t, on_ino, NULL);
	idx_segment_each(t, on_segment, NULL);
	idx_model_each(t, on_model, NULL);
	idx_meta_get_u64(t, "next_ino", &v);
	len = sizeof(buf);
	idx_meta_get(t, "uuid", buf, &len);
	idx_read_end(t);
}

static void write_some(struct idx *idx)
{
	struct extent e = {.segment = 2,
	                   .offset = 0,
	                   .record_len = 60,
	                   .stored_len = 12,
	                   .raw_len = 12,
	                   .codec = 0};
	struct idx_inode in = {.ino = 3, .mode = 0100644, .nlink = 1, .size = 12};
	struct idx_txn *t;
	int64_t delta;
	uint64_t ino;

	if (idx_write_begin(idx, &t))
		return;
	idx_extent_put(t, 1, 0, &e, &delta);
	idx_extent_put(t, 2, 1, &e, &delta);
	idx_extent_del(t, 3, 0, &delta);
	idx_extent_del_from(t, 4, 0, &delta);
	idx_inode_put(t, &in);
	idx_inode_del(t, 2);
	idx_ino_alloc(t, &ino);
	idx_dirent_del(t, 1, "b", 1);
	idx_xattr_del_all(t, 1);
	idx_orphan_del(t, 1);
	idx_write_abort(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t bs = 0;
	struct idx *idx;

	if (size < 1)
		return 0;
	if (put_entries(data, size) == 0 && idx_open(idx_dir, 0, &bs, 0, 0, &idx) == 0) {
		read_everything(idx);
		write_some(idx);
		idx_close(idx);
	}
	if (data[0] & 1)
		restore_meta();
	return 0;
}
