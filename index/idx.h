/* idx — the archive's metadata and block index, kept in one LMDB environment (ARCHIVE/index/).
 *
 * Owns: the named databases meta, inodes, dirents, blocks, xattrs, models, segments; their key and
 * value encodings (index/FORMAT.md); the format-version check; map-size growth on MDB_MAP_FULL;
 * per-segment live/dead byte accounting, kept in step with every extent put or delete.
 * Does not own: block payloads (seg.h), decoding (codec/), in-memory inode state (fs/).
 * Threads: any number of read transactions (one reusable idx_txn per thread: begin/end does
 * mdb_txn_reset/renew); write transactions are serialised by LMDB's writer lock, and callers batch
 * a whole flush into one of them.
 * Durability: a commit is atomic; idx_sync() forces it to stable storage (used by fsync).
 * Errors: 0, or a negative errno (-ENOENT, -EEXIST, -EIO, -ENOSPC, -ENOMEM, -EPROTO for an
 * archive of another format); LMDB codes are mapped here and logged. */
#ifndef BOAFS_IDX_H
#define BOAFS_IDX_H

#include <stddef.h>
#include <stdint.h>

/* This build reads archives of versions MIN..VERSION and writes the lowest that describes what
 * the archive holds: 1 = plain files only; 2 = unwrapped files (the `unwrap` database). */
#define IDX_FORMAT_VERSION     2
#define IDX_FORMAT_VERSION_MIN 1
#define IDX_ROOT_INO           1
#define IDX_NAME_MAX           255

struct idx;
struct idx_txn;

/* Attributes of one inode. Times are nanoseconds since the epoch. `stored_bytes` is the sum of
 * the stored record lengths of its extents (what st_blocks reports). */
struct idx_inode {
	uint64_t ino;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t nlink;
	uint64_t size;
	uint64_t stored_bytes;
	int64_t atime_ns;
	int64_t mtime_ns;
	int64_t ctime_ns;
	uint64_t generation;
	uint64_t rdev;
};

/* Where a block's record lives and how to decode it. `record_len` is the whole record in the
 * segment (header + payload); `stored_len` the payload only. */
/* Extent flags (not part of the record: they say what was done with it, not what it is). */
#define EXTENT_BOA_TRIED 0x01 /* recompression with BOA was tried and was not smaller */

struct extent {
	uint64_t segment;
	uint64_t offset;
	uint32_t record_len;
	uint32_t stored_len;
	uint32_t raw_len;
	uint8_t codec;
	uint8_t flags; /* EXTENT_* */
	uint32_t model_id;
	uint64_t raw_xxh64;
	int64_t written_at_ns;
};

struct idx_segment_usage {
	uint64_t live_bytes;
	uint64_t dead_bytes;
};

/* Opens (and with create != 0, creates if missing) the index under `dir`. On creation the meta
 * database records the format version, `*block_size` and a fresh uuid, and the root directory
 * inode (mode 0755 | S_IFDIR, owned by `root_uid`/`root_gid`) is made. On open of an existing
 * index, `*block_size` is set from meta. An index written by another format version gives
 * -EPROTO; a directory that is not an LMDB environment gives -EINVAL. */
int idx_open(const char *dir, int create, uint32_t *block_size, uint32_t root_uid,
             uint32_t root_gid, struct idx **out);
void idx_close(struct idx *idx);
/* Forces committed transactions to stable storage. */
int idx_sync(struct idx *idx);

int idx_read_begin(struct idx *idx, struct idx_txn **out);
void idx_read_end(struct idx_txn *t);
int idx_write_begin(struct idx *idx, struct idx_txn **out);
/* Commits; on MDB_MAP_FULL during the transaction, the caller gets -EAGAIN from the failing
 * call, aborts, and retries: idx grows the map before the next idx_write_begin. */
int idx_write_commit(struct idx_txn *t);
void idx_write_abort(struct idx_txn *t);

/* meta: small named counters and values. */
int idx_meta_get_u64(struct idx_txn *t, const char *key, uint64_t *out);
int idx_meta_put_u64(struct idx_txn *t, const char *key, uint64_t value);
int idx_meta_get(struct idx_txn *t, const char *key, void *buf, size_t *len);
int idx_meta_put(struct idx_txn *t, const char *key, const void *value, size_t len);
/* The archive's format version (as read at open, or raised since). */
uint64_t idx_format_version(struct idx *idx);
/* Raises meta format_version to `version` in this write transaction unless it is that or more. */
int idx_format_raise(struct idx_txn *t, uint64_t version);
/* Returns the next unused inode number and bumps the counter (write txn). */
int idx_ino_alloc(struct idx_txn *t, uint64_t *ino);

/* inodes */
int idx_inode_get(struct idx_txn *t, uint64_t ino, struct idx_inode *out);
int idx_inode_put(struct idx_txn *t, const struct idx_inode *in);
int idx_inode_del(struct idx_txn *t, uint64_t ino);
/* Inodes with nlink == 0 that were still open when the daemon stopped; freed at next mount. */
int idx_orphan_add(struct idx_txn *t, uint64_t ino);
int idx_orphan_del(struct idx_txn *t, uint64_t ino);
typedef int (*idx_ino_cb)(void *arg, uint64_t ino);
int idx_orphan_each(struct idx_txn *t, idx_ino_cb cb, void *arg);

/* dirents: (parent, name) -> (ino, d_type). Names are 1..IDX_NAME_MAX bytes, no NUL. */
int idx_dirent_get(struct idx_txn *t, uint64_t parent, const char *name, size_t namelen,
                   uint64_t *ino, uint8_t *dtype);
int idx_dirent_put(struct idx_txn *t, uint64_t parent, const char *name, size_t namelen,
                   uint64_t ino, uint8_t dtype);
int idx_dirent_del(struct idx_txn *t, uint64_t parent, const char *name, size_t namelen);
/* Calls cb for each entry of `parent` in name order; a non-zero return stops the walk and is
 * returned. Returns 0 when the walk completes. */
typedef int (*idx_dirent_cb)(void *arg, const char *name, size_t namelen, uint64_t ino,
                             uint8_t dtype);
int idx_dirent_each(struct idx_txn *t, uint64_t parent, idx_dirent_cb cb, void *arg);
/* 0 if the directory has no entries, -ENOTEMPTY otherwise. */
int idx_dir_empty(struct idx_txn *t, uint64_t parent);

/* blocks: (ino, block_no) -> extent. put replaces any previous extent; both put and delete move
 * the old record's bytes from live to dead in `segments` and report the change of the inode's
 * stored bytes in *stored_delta (may be NULL). */
int idx_extent_get(struct idx_txn *t, uint64_t ino, uint64_t block, struct extent *out);
int idx_extent_put(struct idx_txn *t, uint64_t ino, uint64_t block, const struct extent *e,
                   int64_t *stored_delta);
int idx_extent_del(struct idx_txn *t, uint64_t ino, uint64_t block, int64_t *stored_delta);
/* Deletes every extent of `ino` with block_no >= first (truncate, unlink). */
int idx_extent_del_from(struct idx_txn *t, uint64_t ino, uint64_t first, int64_t *stored_delta);
/* Calls cb for each extent of `ino` with block_no in [first, last], in order. */
typedef int (*idx_extent_cb)(void *arg, uint64_t ino, uint64_t block, const struct extent *e);
int idx_extent_each(struct idx_txn *t, uint64_t ino, uint64_t first, uint64_t last,
                    idx_extent_cb cb, void *arg);
/* Every extent of the archive in (ino, block) order (fsck, stats). */
int idx_extent_each_all(struct idx_txn *t, idx_extent_cb cb, void *arg);
/* Every extent from (ino, block) on, in order (a resumable walk). */
int idx_extent_each_from(struct idx_txn *t, uint64_t ino, uint64_t block, idx_extent_cb cb,
                         void *arg);

/* xattrs: (ino, name) -> value. Names up to 255 bytes, values up to 64 KiB. */
int idx_xattr_get(struct idx_txn *t, uint64_t ino, const char *name, void *buf, size_t *len);
int idx_xattr_put(struct idx_txn *t, uint64_t ino, const char *name, const void *value, size_t len);
int idx_xattr_del(struct idx_txn *t, uint64_t ino, const char *name);
/* Writes the NUL-separated list of names into buf (or, with cap == 0, only its length). */
int idx_xattr_list(struct idx_txn *t, uint64_t ino, char *buf, size_t cap, size_t *len);
int idx_xattr_del_all(struct idx_txn *t, uint64_t ino);

/* segments */
int idx_segment_get(struct idx_txn *t, uint64_t segment, struct idx_segment_usage *out);
/* Sets a segment's usage outright (fsck --repair), or forgets a removed segment (gc). */
int idx_segment_put(struct idx_txn *t, uint64_t segment, const struct idx_segment_usage *u);
int idx_segment_del(struct idx_txn *t, uint64_t segment);
typedef int (*idx_segment_cb)(void *arg, uint64_t segment, const struct idx_segment_usage *u);
int idx_segment_each(struct idx_txn *t, idx_segment_cb cb, void *arg);

/* Whole-database walks for fsck, gc and stats; a non-zero callback return stops the walk and is
 * returned. */
typedef int (*idx_inode_cb)(void *arg, const struct idx_inode *in);
int idx_inode_each(struct idx_txn *t, idx_inode_cb cb, void *arg);
typedef int (*idx_dirent_all_cb)(void *arg, uint64_t parent, const char *name, size_t namelen,
                                 uint64_t ino, uint8_t dtype);
int idx_dirent_each_all(struct idx_txn *t, idx_dirent_all_cb cb, void *arg);

/* models: id -> model file bytes (.boam). */
int idx_model_put(struct idx_txn *t, uint32_t model_id, const void *bytes, size_t len);
/* Points *bytes into the map; valid until the transaction ends. */
int idx_model_get(struct idx_txn *t, uint32_t model_id, const void **bytes, size_t *len);
typedef int (*idx_model_cb)(void *arg, uint32_t model_id, const void *bytes, size_t len);
int idx_model_each(struct idx_txn *t, idx_model_cb cb, void *arg);

/* unwrap: ino -> the piece map of an unwrapped file, or the mark of a file found not worth it
 * (the value's layout is fs_unwrap.c's, documented in index/FORMAT.md). get points *value into
 * the map, valid until the transaction ends. */
int idx_unwrap_get(struct idx_txn *t, uint64_t ino, const void **value, size_t *len);
int idx_unwrap_put(struct idx_txn *t, uint64_t ino, const void *value, size_t len);
int idx_unwrap_del(struct idx_txn *t, uint64_t ino);
typedef int (*idx_unwrap_cb)(void *arg, uint64_t ino, const void *value, size_t len);
int idx_unwrap_each(struct idx_txn *t, idx_unwrap_cb cb, void *arg);

#endif
