/* fs_prefetch — read-ahead for sequential readers (fs_prefetch.c).
 *
 * Owns: the prefetch worker threads and their small ring of requests (a request that does not fit
 * is dropped, which only costs speed).
 * Does not own: decoding (fs_file.h) or the cache (fs_cache.h).
 * Threads: requests from any thread; started and stopped by fs_open/fs_close.
 * Errors: fs_prefetch_start returns 0 or a negative errno; requests never fail. */
#ifndef BOAFS_FS_PREFETCH_H
#define BOAFS_FS_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#include "fs.h"

/* The job each worker runs: loads `block` of `ino` into the cache (fs_file_prefetch). It is
 * passed in rather than called by name because fs_file.c calls this module: the arrow runs one
 * way only. */
typedef int (*fs_prefetch_load_fn)(struct fs *fs, uint64_t ino, uint64_t block);
int fs_prefetch_start(struct fs *fs, fs_prefetch_load_fn load);
void fs_prefetch_stop(struct fs *fs);
void fs_prefetch_request(struct fs *fs, uint64_t ino, uint64_t block);
/* Drops the blocks of `ino` queued ahead that no worker has taken yet: its last reader closed
 * it, and decoding them would only hold workers from other readers. Decodes in progress finish;
 * store jobs are kept (a pushed page serves the next open). */
void fs_prefetch_forget(struct fs *fs, uint64_t ino);
/* Queues a store job: `store` (fs_prefetch_set_store) pushes the cached block into the
 * kernel's page cache. Dropped while no store function is set. */
void fs_prefetch_store(struct fs *fs, uint64_t ino, uint64_t block);
/* Sets the store job (NULL: none; jobs running go on). */
void fs_prefetch_set_store(struct fs *fs, fs_prefetch_load_fn store);
/* How many store jobs are running now. */
size_t fs_prefetch_storing(struct fs *fs);
/* How many blocks ahead a sequential reader is served: its window, twice the workers. */
size_t fs_prefetch_depth(struct fs *fs);

#endif
