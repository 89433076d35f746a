/* fs_log — the daemon's log line and wall clock (fs_log.c).
 *
 * Owns: the format of a log line ("boafs: ..." on stderr, or the name fs_log_program set) and the clock that stamps attributes.
 * Does not own: anything of the archive; it includes no other module, so every module may use it.
 * Threads: any thread; each call writes one line.
 * Errors: none. */
#ifndef BOAFS_FS_LOG_H
#define BOAFS_FS_LOG_H

#include <stdint.h>

void fs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The program named at the start of each line ("boafs" unless set): `boa` sets its own, so that
 * each program's messages have one prefix. Call once, before any other thread starts. */
void fs_log_program(const char *name);
/* CLOCK_REALTIME in nanoseconds: the time stamps of inodes and blocks. */
int64_t fs_now_ns(void);

#endif
