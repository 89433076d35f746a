/* fs_heat — when each file was last read, in memory (fs_heat.c).
 *
 * Owns: a bounded table from inode number to the time of its last read. Reads note themselves
 * here at the cost of a mutex and a store, never an index write; the recompression scan asks it
 * whether a file was read within the cold period. What lasts across mounts is the inode's atime,
 * written lazily with the other attributes (relatime or strictatime, see fs_file_read).
 * Does not own: the atime policy (fs_file.c), which blocks are cold (fs_recompress.c).
 * Threads: any thread.
 * Errors: fs_heat_new returns 0 or -ENOMEM; the others cannot fail (a full table forgets the
 * oldest reads first, which can only make a block look colder than it is). */
#ifndef BOAFS_FS_HEAT_H
#define BOAFS_FS_HEAT_H

#include <stdint.h>

struct fs_heat;

int fs_heat_new(struct fs_heat **out);
void fs_heat_free(struct fs_heat *h);
/* `ino` was read at `now_ns`. */
void fs_heat_note(struct fs_heat *h, uint64_t ino, int64_t now_ns);
/* When `ino` was last read while mounted, or 0 if not (or forgotten). */
int64_t fs_heat_last_read(struct fs_heat *h, uint64_t ino);

#endif
