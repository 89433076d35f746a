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

#include "idx.h"
#include "seg.h"

struct fs_cache;
struct codec_ctx;

struct fs_options {
	uint32_t block_size;
	int zstd_level;
	uint64_t cache_size;
	unsigned threads;
	int read_only;
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
	pthread_mutex_t nodes_lock;
	struct fs_node **nodes;
	size_t nodes_cap, nodes_count;
	struct fs_prefetch *prefetch;
	size_t ncpu; /* encoders per flush */
};

/* Opens or creates the archive; logs a one-line reason on failure. */
int fs_open(const char *archive, const struct fs_options *opt, struct fs **out);
/* Flushes everything and closes. */
int fs_close(struct fs *fs);
void fs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int64_t fs_now_ns(void);

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
/* Decodes `block` into the cache unless it is dirty or cached already (prefetch worker). */
int fs_file_prefetch_block(struct fs *fs, struct fs_node *n, uint64_t block);

/* Reads one stored block through the cache (no dirty data): a hole reads as zeros. */
int fs_block_load(struct fs *fs, uint64_t ino, uint64_t block, uint8_t *buf);

#endif
