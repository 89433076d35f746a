/* fs_cache — the decoded-block cache (fs_cache.c): an LRU of whole blocks keyed by (ino, block).
 *
 * Owns: the cached copies and their eviction, within a byte capacity (-o cache_size=).
 * Does not own: where blocks come from (fs_file.h); it knows nothing of struct fs.
 * Threads: any thread; one mutex, a leaf lock never held across I/O. Blocks are copied in and out,
 * never handed out by pointer, so eviction never races a reader.
 * Errors: 0, or a negative errno (-ENOENT: not cached, -ENOMEM). */
#ifndef BOAFS_FS_CACHE_H
#define BOAFS_FS_CACHE_H

#include <stdint.h>

struct fs_cache;

int fs_cache_new(uint64_t capacity_bytes, uint32_t block_size, struct fs_cache **out);
void fs_cache_free(struct fs_cache *c);
/* Copies the cached block into buf (block_size bytes); -ENOENT if absent. */
int fs_cache_get(struct fs_cache *c, uint64_t ino, uint64_t block, uint8_t *buf);
int fs_cache_contains(struct fs_cache *c, uint64_t ino, uint64_t block);
/* Inserts a copy of `data`, replacing any older copy. */
void fs_cache_put(struct fs_cache *c, uint64_t ino, uint64_t block, const uint8_t *data);
void fs_cache_invalidate(struct fs_cache *c, uint64_t ino, uint64_t first_block);

#endif
