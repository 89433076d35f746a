/* fs_recompress — the background recompression pool (fs_recompress.c).
 *
 * Owns: the worker threads (-o threads=, nice 19), the policy of which blocks are cold
 * (-o recompress=), encoding with BOA, proving the result by decoding it, and replacing an extent
 * only if the record is smaller and the extent is still the one that was read.
 * Does not own: the codecs (codec/), the models (fs_model.h), compaction (fs_gc.h).
 * Threads: started and stopped by fs_open/fs_close; workers take node locks and write
 * transactions like any request.
 * Errors: fs_recompress_start returns 0 or a negative errno; a worker logs what it skips. */
#ifndef BOAFS_FS_RECOMPRESS_H
#define BOAFS_FS_RECOMPRESS_H

#include "fs.h"

int fs_recompress_start(struct fs *fs);
void fs_recompress_stop(struct fs *fs);

#endif
