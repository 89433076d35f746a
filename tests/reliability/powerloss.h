/* powerloss.h — the undo log that powerloss_shim.c writes inside the boafs daemon and
 * powerloss_apply.c reads after the daemon was killed, to leave the archive as a power cut could.
 *
 * The log is a sequence of records, appended (O_APPEND, one writer process) in the order the
 * daemon made its calls; host byte order (the log never leaves the machine). A record is
 *
 *   0  magic u32 (PL_MAGIC)     4  type u32 (enum pl_type)     8  path_len u32
 *   12 npages u32               16 first_page u64               24 size u64
 *   32 covers u64               40 data_len u64
 *   48 path (path_len bytes, absolute, no NUL), then data_len bytes of page content.
 *
 * PL_UNDO: pages [first_page, first_page + npages) of `path` are about to be changed (a write or a
 *   truncation); `size` is the file's size before the change; the data holds the old content of
 *   the first data_len / PL_PAGE of those pages (the ones below the old end of file; the others
 *   read as zeros, a short last page is padded with zeros). npages 0: only the size changes.
 * PL_PAGESYNC: a write through an O_DSYNC/O_SYNC descriptor: those pages and the size (`size`,
 *   after the write) are durable once it returned.
 * PL_SYNC: fsync or fdatasync of `path` returned 0; every record of `path` that lies before log
 *   offset `covers` (the log's length when the call began) is durable.
 * PL_DIRSYNC: fsync of the directory `path` returned 0; the creations in it logged before
 *   `covers` are durable.
 * PL_SYNCALL: sync() or syncfs() returned; everything logged before `covers` is durable.
 * PL_CREATE, PL_MKDIR: `path` was created (a file that did not exist, a directory); until a
 *   DIRSYNC of its parent covers it, a power cut may lose its name.
 *
 * Only the last record can be incomplete (the daemon was killed while appending it); the call it
 * describes had not been made yet, so a reader drops it. */
#ifndef BOAFS_POWERLOSS_H
#define BOAFS_POWERLOSS_H

#include <stdint.h>

#define PL_MAGIC 0x31524c50u /* "PLR1" */
#define PL_PAGE  4096u

enum pl_type {
	PL_UNDO = 1,
	PL_PAGESYNC = 2,
	PL_SYNC = 3,
	PL_DIRSYNC = 4,
	PL_SYNCALL = 5,
	PL_CREATE = 6,
	PL_MKDIR = 7,
};

struct pl_record {
	uint32_t magic;
	uint32_t type;
	uint32_t path_len;
	uint32_t npages;
	uint64_t first_page;
	uint64_t size;
	uint64_t covers;
	uint64_t data_len;
};

_Static_assert(sizeof(struct pl_record) == 48, "the log's record header is 48 bytes");

#endif
