/* fs_log — the daemon's log line and wall clock (fs_log.c).
 *
 * Owns: the format of a log line ("boafs: ..." on stderr, or the name fs_log_program set) and the
 * clock that stamps attributes. Does not own: anything of the archive; it includes no other module,
 * so every module may use it. Threads: any thread; each call writes one line. The destination is
 * process-wide, like openlog(3): set once by the daemon's main thread. Errors: none. */
#ifndef BOAFS_FS_LOG_H
#define BOAFS_FS_LOG_H

#include <stdint.h>

void fs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The program named at the start of each line ("boafs" unless set): `boa` sets its own, so that
 * each program's messages have one prefix. Call once, before any other thread starts. */
void fs_log_program(const char *name);
/* Where the lines go once the daemon leaves the terminal (-o log=): fd 2 is moved, so every line
 * on stderr follows, whoever prints it. fs_log_to_file takes an open descriptor (opened before
 * the daemon detaches, so a bad path is reported on the terminal) and stamps lines with the
 * time; fs_log_to_syslog relays them to syslog (journald) as the daemon facility. Call once,
 * from the main thread; fs_log_end at exit delivers what is still in the relay. 0 or a negative
 * errno. */
int fs_log_to_file(int fd);
int fs_log_to_syslog(void);
void fs_log_end(void);
/* CLOCK_REALTIME in nanoseconds: the time stamps of inodes and blocks. */
int64_t fs_now_ns(void);

#endif
