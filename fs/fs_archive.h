/* fs_archive — opening and closing an archive (fs_archive.c): ARCHIVE/index, ARCHIVE/seg, the
 * lock file, the daemon's threads.
 *
 * Owns: the life of struct fs (fs.h): creating a new archive in an empty directory, refusing a
 * directory that is not one, the flock on ARCHIVE/lock, starting and stopping the prefetch and
 * recompression pools, installing -o model=, flushing every node at close.
 * Does not own: what the index and segments hold (index/), the reserve (fs_gc.h).
 * Threads: fs_open and fs_close are called once, by one thread, before and after every other call.
 * Errors: 0, or a negative errno; fs_open logs a one-line reason on failure. */
#ifndef BOAFS_FS_ARCHIVE_H
#define BOAFS_FS_ARCHIVE_H

#include "fs.h"

/* Opens or creates the archive; logs a one-line reason on failure. */
int fs_open(const char *archive, const struct fs_options *opt, struct fs **out);
/* Flushes everything and closes. */
int fs_close(struct fs *fs);

#endif
