/* fs_gc — segment compaction (fs_gc.c): the live records of a segment are copied to the open
 * segment, the index is pointed at the copies, and the emptied segment file is deleted.
 *
 * Owns: choosing segments by dead share, the copy, deleting segment files (holding
 * fs->seg_remove_lock exclusive), and ARCHIVE/reserve, the space kept back so that compaction
 * can still run on a full disk.
 * Does not own: live/dead accounting (index/idx.h), the records' format (index/seg.h).
 * Threads: any thread (the daemon's pool or `boa gc`); a record is copied before anything refers
 * to the copy, so a crash at any point leaves every extent pointing at a complete record.
 * Errors: 0, or a negative errno; a segment that cannot be compacted is counted and skipped. */
#ifndef BOAFS_FS_GC_H
#define BOAFS_FS_GC_H

#include <stdint.h>

#include "fs.h"

struct fs_gc_report {
	uint64_t segments_examined, segments_removed, segments_failed;
	uint64_t bytes_moved, bytes_freed;
};
int fs_gc_segment(struct fs *fs, uint64_t segment, uint64_t *moved_bytes, uint64_t *freed_bytes);
/* Compacts every segment but the open one whose dead share is at least `dead_fraction`. */
int fs_gc(struct fs *fs, double dead_fraction, struct fs_gc_report *report);

/* ARCHIVE/reserve: space kept back for compaction on a full disk (fs_gc.c). */
int fs_reserve_take(struct fs *fs);
int fs_reserve_release(struct fs *fs);

#endif
