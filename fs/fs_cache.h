/* fs_cache — the decoded-block cache (fs_cache.c): an LRU of whole blocks keyed by (ino, block).
 *
 * Owns: the cached copies and their eviction, within a byte capacity (-o cache_size=).
 * Does not own: where blocks come from (fs_file.h); it knows nothing of struct fs.
 * Threads: any thread; one mutex, a leaf lock never held across I/O. Blocks are copied in and out,
 * never handed out by pointer, so eviction never races a reader. A block is decoded by one
 * thread at a time: fs_cache_claim either copies the block out, or waits (the mutex released,
 * on one condition variable shared by all blocks) while another thread's claim on it is held,
 * or hands the caller the claim. The claim's holder decodes with no cache lock held and always
 * ends with fs_cache_release, which inserts the block (or not, on failure) and wakes the
 * waiters. A waiter holds nothing of this module while it waits; it may hold what the
 * decoder also takes shared (an inode's lock, seg_remove_lock), never what it takes exclusive.
 * Errors: 0, or a negative errno (-ENOENT: not cached, -ENOMEM). */
#ifndef BOAFS_FS_CACHE_H
#define BOAFS_FS_CACHE_H

#include <stdint.h>

struct fs_cache;

int fs_cache_new(uint64_t capacity_bytes, uint32_t block_size, struct fs_cache **out);
void fs_cache_free(struct fs_cache *c);
/* Copies the cached block into buf (block_size bytes); -ENOENT if absent. */
int fs_cache_get(struct fs_cache *c, uint64_t ino, uint64_t block, uint8_t *buf);
/* 1 if the block is cached or being decoded (a read of it will not decode it again). */
int fs_cache_contains(struct fs_cache *c, uint64_t ino, uint64_t block);
/* Inserts a copy of `data`, replacing any older copy. */
void fs_cache_put(struct fs_cache *c, uint64_t ino, uint64_t block, const uint8_t *data);
/* A claim on decoding one block; the caller's storage, filled in by fs_cache_claim. */
struct fs_cache_claim {
	uint64_t ino, block;
	struct fs_cache_claim *next;
};

/* Copies the cached block into buf and returns 0; if another thread is decoding it, waits
 * for that decode first and returns 0 with its block (1 in *waited). Returns 1 when the
 * caller is to decode it: `claim` is held, and the caller must call fs_cache_release once,
 * whatever happens. -ENOENT: the other thread's decode failed (or its block was not kept):
 * the caller reads the block itself, without a claim, and meets the error itself. */
int fs_cache_claim(struct fs_cache *c, uint64_t ino, uint64_t block, uint8_t *buf,
                   struct fs_cache_claim *claim, int *waited);
/* Ends a claim: inserts `data` (NULL: the decode failed, nothing is inserted) and wakes the
 * reads waiting for it. */
void fs_cache_release(struct fs_cache *c, struct fs_cache_claim *claim, const uint8_t *data);
void fs_cache_invalidate(struct fs_cache *c, uint64_t ino, uint64_t first_block);

#endif
