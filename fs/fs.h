/* fs — the boafs daemon's state: the archive it serves, the in-memory inodes, the block cache.
 *
 * Owns: struct fs (the daemon's only mutable state), struct fs_node (one per inode the kernel
 * knows or a request is using: attributes, dirty blocks, lookup and open counts), block I/O
 * (read through the cache, write into dirty blocks, flush them as one index transaction).
 * Does not own: the LMDB encoding (index/idx.h), record storage (index/seg.h), codecs (codec/).
 * Locking order, always: fs->ns_lock (namespace changes) -> node locks (in ino order) -> an
 * index write transaction -> fs->nodes_lock / cache lock (leaf locks, never held across I/O).
 * A flush takes its node's lock then a write transaction, never ns_lock.
 * Errors: 0, or a negative errno. */
#ifndef BOAFS_FS_H
#define BOAFS_FS_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs_log.h"
#include "idx.h"
#include "seg.h"

struct fs_cache;
struct codec_ctx;
struct fs_models;
struct fs_recompress;
struct boa_model;
struct boa_ctx;

#define FS_CODECS 3 /* codec ids 0..2: raw, zstd, boa */
enum fs_cpu_op { FS_CPU_ENCODE, FS_CPU_DECODE, FS_CPU_OPS };

enum fs_recompress_mode { FS_RECOMPRESS_OFF, FS_RECOMPRESS_NOW, FS_RECOMPRESS_COLD };

struct fs_options {
	uint32_t block_size;
	int zstd_level;
	uint64_t cache_size;
	unsigned threads; /* background recompression workers */
	int read_only;
	enum fs_recompress_mode recompress;
	uint64_t cold_seconds; /* FS_RECOMPRESS_COLD: blocks not written for this long */
	int boa_level;
	const char *model_path; /* -o model=: installed and made current at mount */
	const char *mountpoint; /* recorded in ARCHIVE/lock while mounted */
	enum { FS_DAEMON, FS_ADMIN_READ, FS_ADMIN_WRITE } admin; /* who opens the archive */
};

/* A block held in memory until it is flushed; `data` is block_size bytes. */
struct fs_dirty {
	uint64_t block;
	uint8_t *data;
};

struct fs_node {
	uint64_t ino;
	/* Guarded by fs->nodes_lock: */
	uint64_t nlookup;
	uint32_t refs;
	struct fs_node *hash_next;
	/* Guarded by `lock`: */
	pthread_rwlock_t lock;
	struct idx_inode attr;
	int attr_dirty;
	uint32_t open_count;
	struct fs_dirty *dirty;
	size_t ndirty, dirty_cap;
	uint64_t next_sequential_block;
	int damaged; /* block map inconsistent at load: data reads fail with EIO */
};

struct fs {
	char *archive;
	struct fs_options opt;
	struct idx *idx;
	struct seg_store *seg;
	struct fs_cache *cache;
	pthread_key_t codec_key; /* per-thread struct codec_ctx */
	int codec_key_made;
	pthread_mutex_t ns_lock;
	/* Readers of records hold it shared from the extent lookup to the read; gc holds it
	 * exclusive to delete a segment file, so no reader is left with a vanished segment. */
	pthread_rwlock_t seg_remove_lock;
	int lock_fd; /* flock on ARCHIVE/lock */
	pthread_mutex_t nodes_lock;
	struct fs_node **nodes;
	size_t nodes_cap, nodes_count;
	struct fs_prefetch *prefetch;
	size_t ncpu; /* encoders per flush */
	/* Shared BOA coder contexts (fs_boa_acquire): at most boa_max exist. */
	pthread_mutex_t boa_lock;
	pthread_cond_t boa_cond;
	struct boa_ctx **boa_free;
	size_t boa_free_count, boa_made, boa_max;
	struct fs_models *models;
	struct fs_recompress *recompress;
	uint64_t cpu_ns[FS_CODECS][FS_CPU_OPS]; /* atomics; see fs_account.c */
	uint64_t cpu_bytes[FS_CODECS][FS_CPU_OPS];
};

/* Opens or creates the archive; logs a one-line reason on failure. */
int fs_open(const char *archive, const struct fs_options *opt, struct fs **out);
/* Flushes everything and closes. */
int fs_close(struct fs *fs);

/* Nodes. fs_node_get returns the node with refs + 1, loading its attributes when it is not in
 * memory (-ENOENT if the inode does not exist); fs_node_put drops that reference. */
int fs_node_get(struct fs *fs, uint64_t ino, struct fs_node **out);
void fs_node_put(struct fs *fs, struct fs_node *n);
/* The kernel learned of (lookup + 1) or forgot (lookup - n) the node. */
void fs_node_lookup_inc(struct fs *fs, struct fs_node *n);
void fs_node_forget(struct fs *fs, uint64_t ino, uint64_t nlookup);
/* Frees the inode of an unlinked node once nothing refers to it. Called with no lock held. */
int fs_node_reap(struct fs *fs, uint64_t ino);
/* Releases every node at unmount. */
void fs_nodes_drop_all(struct fs *fs);

/* Data. Callers hold no node lock; these take it. */
int fs_file_read(struct fs *fs, struct fs_node *n, uint64_t off, size_t len, uint8_t *buf,
                 size_t *got);
int fs_file_write(struct fs *fs, struct fs_node *n, uint64_t off, const uint8_t *buf, size_t len);
int fs_file_flush(struct fs *fs, struct fs_node *n);
/* Sets the size (truncate up or down) and flushes, in one index transaction. Caller holds the
 * node's write lock. */
int fs_file_truncate_locked(struct fs *fs, struct fs_node *n, uint64_t size);
int fs_file_flush_locked(struct fs *fs, struct fs_node *n);
/* Drops dirty blocks that cannot be flushed and takes the file's size back to what the index
 * holds, so reads never return data that was not stored. */
int fs_file_revert_locked(struct fs *fs, struct fs_node *n);

/* Writes the node's attributes in an open write transaction (caller holds the node lock). */
int fs_node_store_attr(struct idx_txn *t, struct fs_node *n);

/* Index write transactions (fs_txn.c). `body` makes the changes in `t` and returns 0 to commit
 * them, a negative errno to abort, or FS_TXN_NOTHING to abort because there is nothing to change
 * (fs_txn_run then returns 0). The whole transaction is run again, body included, while it fails
 * with -EAGAIN (idx grows the map meanwhile), a bounded number of times. The caller holds the
 * write locks of `nodes` (up to FS_TXN_NODES_MAX; NULL entries are skipped): body may change
 * their attributes, and they are put back as they were whenever an attempt does not commit. */
#define FS_TXN_NODES_MAX 4
#define FS_TXN_NOTHING   1
typedef int (*fs_txn_body)(struct idx_txn *t, void *arg);
int fs_txn_run(struct fs *fs, struct fs_node *const *nodes, size_t count, fs_txn_body body,
               void *arg);

struct codec_ctx *fs_codec(struct fs *fs);

/* Block cache of decoded blocks (fs_cache.c). */
int fs_cache_new(uint64_t capacity_bytes, uint32_t block_size, struct fs_cache **out);
void fs_cache_free(struct fs_cache *c);
/* Copies the cached block into buf (block_size bytes); -ENOENT if absent. */
int fs_cache_get(struct fs_cache *c, uint64_t ino, uint64_t block, uint8_t *buf);
int fs_cache_contains(struct fs_cache *c, uint64_t ino, uint64_t block);
/* Inserts a copy of `data`, replacing any older copy. */
void fs_cache_put(struct fs_cache *c, uint64_t ino, uint64_t block, const uint8_t *data);
void fs_cache_invalidate(struct fs_cache *c, uint64_t ino, uint64_t first_block);

/* Prefetch of the next block on sequential reads (fs_prefetch.c). */
int fs_prefetch_start(struct fs *fs);
void fs_prefetch_stop(struct fs *fs);
void fs_prefetch_request(struct fs *fs, uint64_t ino, uint64_t block);
/* How many blocks ahead a sequential reader is served (the number of prefetch workers). */
size_t fs_prefetch_depth(struct fs *fs);
/* Decodes `block` into the cache unless it is dirty or cached already (prefetch worker). */
int fs_file_prefetch_block(struct fs *fs, struct fs_node *n, uint64_t block);

/* Model registry (fs_model.c). */
int fs_models_new(struct fs_models **out);
void fs_models_free(struct fs_models *r);
/* The model with this id from the index, loaded once and shared. */
int fs_model_get(struct fs *fs, uint32_t id, const struct boa_model **out);
/* The model new recompressions use (meta current_model); -ENOENT if none is installed. */
int fs_model_current(struct fs *fs, const struct boa_model **out);
int fs_model_install(struct fs *fs, const void *bytes, size_t len, int make_current,
                     uint32_t *id_out);
int fs_model_install_file(struct fs *fs, const char *path);

/* Accounting (fs_account.c). */
int64_t fs_thread_cpu_ns(void);
void fs_account(struct fs *fs, uint8_t codec, enum fs_cpu_op op, int64_t cpu_ns, uint64_t bytes);
int fs_account_load(struct fs *fs, struct idx_txn *t);
int fs_account_store(struct fs *fs, struct idx_txn *t);

/* Background recompression (fs_recompress.c). */
int fs_recompress_start(struct fs *fs);
void fs_recompress_stop(struct fs *fs);

/* Decodes a record's payload into `raw` (block_size bytes, zero-filled past raw_len) and checks
 * it against the extent's checksum; logs and returns -EIO on any mismatch. */
int fs_payload_decode(struct fs *fs, uint64_t ino, uint64_t block, const struct extent *e,
                      const uint8_t *payload, uint8_t *raw);
/* A BOA coder context from the shared set (waits while all are in use); give it back. */
struct boa_ctx *fs_boa_acquire(struct fs *fs);
void fs_boa_release(struct fs *fs, struct boa_ctx *c);

/* ARCHIVE/reserve: space kept back for compaction on a full disk (fs_gc.c). */
int fs_reserve_take(struct fs *fs);
int fs_reserve_release(struct fs *fs);

/* Segment compaction (fs_gc.c). */
struct fs_gc_report {
	uint64_t segments_examined, segments_removed, segments_failed;
	uint64_t bytes_moved, bytes_freed;
};
int fs_gc_segment(struct fs *fs, uint64_t segment, uint64_t *moved_bytes, uint64_t *freed_bytes);
/* Compacts every segment but the open one whose dead share is at least `dead_fraction`. */
int fs_gc(struct fs *fs, double dead_fraction, struct fs_gc_report *report);

/* Reads one stored block through the cache (no dirty data): a hole reads as zeros. */
int fs_block_load(struct fs *fs, uint64_t ino, uint64_t block, uint8_t *buf);

#endif
