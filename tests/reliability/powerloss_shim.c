/* powerloss_shim — an LD_PRELOAD library for the boafs daemon that logs, before every change to a
 * file of the archive, what a power cut could still undo (format: powerloss.h).
 *
 *   BOAFS_PL_DIR=ARCHIVE BOAFS_PL_LOG=LOG LD_PRELOAD=powerloss_shim.so boafs ARCHIVE MNT -f
 *
 * A kill -9 of the daemon keeps every write in the kernel's page cache, so on its own it never
 * shows whether what fsync acknowledged had really reached the disk, in the right order. With
 * this log, powerloss_apply can take back, page by page, whatever was written after the last
 * fsync of its file, and the names created after the last fsync of their directory.
 *
 * Caught: write, pwrite, pwrite64, writev, pwritev, pwritev64, pwritev2, pwritev64v2 (LMDB
 * writes its pages with pwrite and lseek+writev, the segments with pwritev), ftruncate, truncate,
 * fsync, fdatasync, syncfs, sync, and the creations (open/openat with O_CREAT, mkdir, mkdirat).
 * sync_file_range is left alone: it promises nothing about durability. Not caught: writes
 * through a shared mapping (boafs opens LMDB without MDB_WRITEMAP), fallocate (only the reserve
 * file uses it, and its content means nothing), unlink and rename (a power cut could undo them
 * too, but the file's content is gone by then).
 *
 * BOAFS_PL_KILL_AFTER_DIRSYNCS=N makes the daemon kill itself (SIGKILL) right after its Nth
 * directory fsync: a power cut at a moment that a kill from outside would hardly ever hit.
 * BOAFS_PL_KILL_BEFORE_SYNCS=N makes it kill itself right before its Nth fsync or fdatasync of a
 * file, so that everything written since that file's last fsync is still undoable: stepping N
 * through a run cuts it at each of its durability points. With BOAFS_PL_ARM=FILE, only the syncs
 * made while FILE exists count (the test creates it once the moment it cuts into begins).
 *
 * Inactive (every call passed straight on) unless both variables are set. One mutex serialises
 * the log and the write it describes, so that an fsync's `covers` offset falls before or after
 * the whole pair; apart from the kill point's countdown the shim keeps no state. A failure to
 * log aborts the daemon: a power-loss test with a hole in its log would prove nothing. */
#undef _FILE_OFFSET_BITS /* this file defines both pwrite and pwrite64; no redirection */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "powerloss.h"

/* Pages per undo record: bounds the buffer of old content one record needs. */
#define PL_CHUNK_PAGES 256

static pthread_mutex_t pl_lock = PTHREAD_MUTEX_INITIALIZER;
static int pl_active;
static int pl_log_fd = -1;
static char pl_dir[PATH_MAX];
static size_t pl_dir_len;
static dev_t pl_dev;
static long pl_kill_after_dirsyncs; /* BOAFS_PL_KILL_AFTER_DIRSYNCS; 0: never */
static long pl_kill_before_syncs;   /* BOAFS_PL_KILL_BEFORE_SYNCS; 0: never */
static char pl_arm[PATH_MAX];       /* BOAFS_PL_ARM; empty: always armed */

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec *, int, off64_t);
#ifdef RWF_DSYNC
static ssize_t (*real_pwritev2)(int, const struct iovec *, int, off_t, int);
static ssize_t (*real_pwritev64v2)(int, const struct iovec *, int, off64_t, int);
#endif
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off64_t);
static int (*real_truncate)(const char *, off_t);
static int (*real_truncate64)(const char *, off64_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_syncfs)(int);
static void (*real_sync)(void);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_mkdir)(const char *, mode_t);
static int (*real_mkdirat)(int, const char *, mode_t);

/* The next definition of `name` (libc's, or a sanitizer's interceptor). All are looked up at the
 * first use: a call can come before this library's constructor has run. */
#define REAL(name) (pthread_once(&pl_once, pl_resolve), real_##name)

static pthread_once_t pl_once = PTHREAD_ONCE_INIT;

static void pl_die(const char *what, int err)
{
	char line[256];
	int n =
	    snprintf(line, sizeof(line), "powerloss_shim: %s: %s; aborting\n", what, strerror(err));

	if (n > 0 && real_write)
		real_write(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	abort();
}

static void *pl_next(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f)
		pl_die(name, ENOSYS);
	return f;
}

#define RESOLVE(name) (real_##name = (__typeof__(real_##name))pl_next(#name))

static void pl_resolve(void)
{
	RESOLVE(write);
	RESOLVE(pwrite);
	RESOLVE(pwrite64);
	RESOLVE(writev);
	RESOLVE(pwritev);
	RESOLVE(pwritev64);
#ifdef RWF_DSYNC
	RESOLVE(pwritev2);
	RESOLVE(pwritev64v2);
#endif
	RESOLVE(ftruncate);
	RESOLVE(ftruncate64);
	RESOLVE(truncate);
	RESOLVE(truncate64);
	RESOLVE(fsync);
	RESOLVE(fdatasync);
	RESOLVE(syncfs);
	RESOLVE(sync);
	RESOLVE(open);
	RESOLVE(open64);
	RESOLVE(openat);
	RESOLVE(openat64);
	RESOLVE(mkdir);
	RESOLVE(mkdirat);
}

__attribute__((constructor)) static void pl_init(void)
{
	const char *dir = getenv("BOAFS_PL_DIR"), *log = getenv("BOAFS_PL_LOG"), *kill_after;
	struct stat st;

	pthread_once(&pl_once, pl_resolve);
	if (!dir || !log || !*dir || !*log)
		return;
	if (!realpath(dir, pl_dir) || stat(pl_dir, &st))
		pl_die(dir, errno);
	pl_dir_len = strlen(pl_dir);
	pl_dev = st.st_dev;
	pl_log_fd = REAL(openat)(AT_FDCWD, log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (pl_log_fd < 0)
		pl_die(log, errno);
	kill_after = getenv("BOAFS_PL_KILL_AFTER_DIRSYNCS");
	pl_kill_after_dirsyncs = kill_after ? strtol(kill_after, NULL, 10) : 0;
	kill_after = getenv("BOAFS_PL_KILL_BEFORE_SYNCS");
	pl_kill_before_syncs = kill_after ? strtol(kill_after, NULL, 10) : 0;
	kill_after = getenv("BOAFS_PL_ARM");
	if (kill_after && strlen(kill_after) < sizeof(pl_arm))
		strcpy(pl_arm, kill_after);
	pl_active = 1;
}

enum pl_watched { PL_NOT_WATCHED, PL_FILE, PL_DIR };

/* Whether `fd` is a regular file below the archive directory, or a directory at or below it;
 * its absolute path goes to `path`. A file that is already unlinked is not watched: no name
 * leads to it after a power cut. */
static enum pl_watched pl_watched_fd(int fd, char *path, size_t cap)
{
	char link[40];
	struct stat st;
	ssize_t n;
	int is_dir;

	if (!pl_active || fd < 0 || fstat(fd, &st))
		return PL_NOT_WATCHED;
	is_dir = S_ISDIR(st.st_mode);
	if (!is_dir && !S_ISREG(st.st_mode))
		return PL_NOT_WATCHED;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, cap - 1);
	if (n <= 0)
		return PL_NOT_WATCHED;
	path[n] = 0;
	if (strncmp(path, pl_dir, pl_dir_len) ||
	    !(path[pl_dir_len] == '/' || (is_dir && !path[pl_dir_len])))
		return PL_NOT_WATCHED;
	if (n > 10 && !strcmp(path + n - 10, " (deleted)"))
		return PL_NOT_WATCHED;
	return is_dir ? PL_DIR : PL_FILE;
}

/* Appends one record; pl_lock held. */
static void pl_append(uint32_t type, const char *path, uint32_t npages, uint64_t first_page,
                      uint64_t size, uint64_t covers, const void *data, uint64_t data_len)
{
	struct pl_record r = {
	    .magic = PL_MAGIC,
	    .type = type,
	    .path_len = (uint32_t)strlen(path),
	    .npages = npages,
	    .first_page = first_page,
	    .size = size,
	    .covers = covers,
	    .data_len = data_len,
	};
	struct iovec iov[3] = {
	    {&r, sizeof(r)},
	    {(void *)path, r.path_len},
	    {(void *)data, (size_t)data_len},
	};
	struct iovec *v = iov;
	int count = data_len ? 3 : 2;

	while (count) {
		ssize_t w = REAL(writev)(pl_log_fd, v, count);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			pl_die("log append", w < 0 ? errno : ENOSPC);
		while (count && (size_t)w >= v->iov_len) {
			w -= (ssize_t)v->iov_len;
			v++;
			count--;
		}
		if (count) {
			v->iov_base = (char *)v->iov_base + w;
			v->iov_len -= (size_t)w;
		}
	}
}

/* The log's length: what an fsync beginning now covers; pl_lock held. */
static uint64_t pl_log_length(void)
{
	struct stat st;

	if (fstat(pl_log_fd, &st))
		pl_die("log fstat", errno);
	return (uint64_t)st.st_size;
}

static uint64_t pl_file_size(int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		pl_die("fstat", errno);
	return (uint64_t)st.st_size;
}

/* Reads `len` bytes at `off` of `fd` into `buf`; what lies past the end of the file reads as
 * zeros. */
static void pl_read_old(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			pl_die("reading old content", errno);
		if (n == 0)
			break;
		done += (size_t)n;
	}
	memset(buf + done, 0, len - done);
}

/* Logs the old content of the pages that [off, off + len) touches; pl_lock held. */
static void pl_log_undo(int fd, const char *path, uint64_t off, uint64_t len)
{
	uint64_t size = pl_file_size(fd), first = off / PL_PAGE;
	uint64_t end = (off + len + PL_PAGE - 1) / PL_PAGE,
	         eof_pages = (size + PL_PAGE - 1) / PL_PAGE;
	int reader = fd, flags = fcntl(fd, F_GETFL);

	if (!len)
		return;
	if (flags >= 0 && (flags & O_ACCMODE) == O_WRONLY) {
		reader = REAL(openat)(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
		if (reader < 0)
			pl_die(path, errno);
	}
	for (uint64_t p = first; p < end;) {
		uint64_t n = end - p < PL_CHUNK_PAGES ? end - p : PL_CHUNK_PAGES;
		uint64_t have = eof_pages > p ? (eof_pages - p < n ? eof_pages - p : n) : 0;
		uint8_t *old = NULL;

		if (have) {
			old = malloc((size_t)(have * PL_PAGE));
			if (!old)
				pl_die("undo buffer", ENOMEM);
			pl_read_old(reader, old, (size_t)(have * PL_PAGE), p * PL_PAGE);
		}
		pl_append(PL_UNDO, path, (uint32_t)n, p, size, 0, old, have * PL_PAGE);
		free(old);
		p += n;
	}
	if (reader != fd)
		close(reader);
}

/* The offset a write without one goes to. */
static uint64_t pl_position(int fd, int flags)
{
	off_t pos;

	if (flags & O_APPEND)
		return pl_file_size(fd);
	pos = lseek(fd, 0, SEEK_CUR);
	if (pos < 0)
		pl_die("lseek", errno);
	return (uint64_t)pos;
}

struct pl_write {
	char path[PATH_MAX];
	uint64_t off;
	int dsync; /* durable when the call returns */
	int saved_errno;
};

/* Before a write of `len` bytes at `off` (-1: the file position) to a watched file: logs its
 * undo and takes pl_lock, which pl_write_end gives back. */
static void pl_write_begin(struct pl_write *w, int fd, int64_t off, uint64_t len, int rwf_dsync)
{
	int flags;

	pthread_mutex_lock(&pl_lock);
	flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		pl_die("fcntl", errno);
	/* Linux appends with O_APPEND even where pwrite names an offset. */
	w->off = off < 0 || (flags & O_APPEND) ? pl_position(fd, flags) : (uint64_t)off;
	w->dsync = (flags & O_DSYNC) || rwf_dsync;
	if (!w->dsync)
		pl_log_undo(fd, w->path, w->off, len);
}

static void pl_write_end(struct pl_write *w, int fd, ssize_t written)
{
	w->saved_errno = errno;
	if (w->dsync && written > 0) {
		uint64_t first = w->off / PL_PAGE;
		uint64_t end = (w->off + (uint64_t)written + PL_PAGE - 1) / PL_PAGE;

		pl_append(PL_PAGESYNC, w->path, (uint32_t)(end - first), first, pl_file_size(fd), 0,
		          NULL, 0);
	}
	pthread_mutex_unlock(&pl_lock);
	errno = w->saved_errno;
}

static uint64_t pl_iov_len(const struct iovec *iov, int count)
{
	uint64_t len = 0;

	for (int i = 0; i < count; i++)
		len += iov[i].iov_len;
	return len;
}

ssize_t write(int fd, const void *buf, size_t len)
{
	struct pl_write w;
	ssize_t rc;

	if (pl_watched_fd(fd, w.path, sizeof(w.path)) != PL_FILE)
		return REAL(write)(fd, buf, len);
	pl_write_begin(&w, fd, -1, len, 0);
	rc = REAL(write)(fd, buf, len);
	pl_write_end(&w, fd, rc);
	return rc;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	struct pl_write w;
	ssize_t rc;

	if (pl_watched_fd(fd, w.path, sizeof(w.path)) != PL_FILE || off < 0)
		return REAL(pwrite)(fd, buf, len, off);
	pl_write_begin(&w, fd, off, len, 0);
	rc = REAL(pwrite)(fd, buf, len, off);
	pl_write_end(&w, fd, rc);
	return rc;
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	struct pl_write w;
	ssize_t rc;

	if (pl_watched_fd(fd, w.path, sizeof(w.path)) != PL_FILE || off < 0)
		return REAL(pwrite64)(fd, buf, len, off);
	pl_write_begin(&w, fd, off, len, 0);
	rc = REAL(pwrite64)(fd, buf, len, off);
	pl_write_end(&w, fd, rc);
	return rc;
}

ssize_t writev(int fd, const struct iovec *iov, int count)
{
	struct pl_write w;
	ssize_t rc;

	if (pl_watched_fd(fd, w.path, sizeof(w.path)) != PL_FILE)
		return REAL(writev)(fd, iov, count);
	pl_write_begin(&w, fd, -1, pl_iov_len(iov, count), 0);
	rc = REAL(writev)(fd, iov, count);
	pl_write_end(&w, fd, rc);
	return rc;
}

ssize_t pwritev(int fd, const struct iovec *iov, int count, off_t off)
{
	struct pl_write w;
	ssize_t rc;

	if (pl_watched_fd(fd, w.path, sizeof(w.path)) != PL_FILE || off < 0)
		return REAL(pwritev)(fd, iov, count, off);
	pl_write_begin(&w, fd, off, pl_iov_len(iov, count), 0);
	rc = REAL(pwritev)(fd, iov, count, off);
	pl_write_end(&w, fd, rc);
	return rc;
}

ssize_t pwritev64(int fd, const struct iovec *iov, int count, off64_t off)
{
	struct pl_write w;
	ssize_t rc;

	if (pl_watched_fd(fd, w.path, sizeof(w.path)) != PL_FILE || off < 0)
		return REAL(pwritev64)(fd, iov, count, off);
	pl_write_begin(&w, fd, off, pl_iov_len(iov, count), 0);
	rc = REAL(pwritev64)(fd, iov, count, off);
	pl_write_end(&w, fd, rc);
	return rc;
}

#ifdef RWF_DSYNC
/* Offset -1 means the file position; RWF_DSYNC/RWF_SYNC make this one write durable, RWF_APPEND
 * puts it at the end. */
static int64_t pl_rwf_offset(int fd, int64_t off, int rwf)
{
#ifdef RWF_APPEND
	if (rwf & RWF_APPEND)
		return (int64_t)pl_file_size(fd);
#endif
	return off;
}

ssize_t pwritev2(int fd, const struct iovec *iov, int count, off_t off, int rwf)
{
	struct pl_write w;
	ssize_t rc;

	if (pl_watched_fd(fd, w.path, sizeof(w.path)) != PL_FILE)
		return REAL(pwritev2)(fd, iov, count, off, rwf);
	pl_write_begin(&w, fd, pl_rwf_offset(fd, off, rwf), pl_iov_len(iov, count),
	               (rwf & (RWF_DSYNC | RWF_SYNC)) != 0);
	rc = REAL(pwritev2)(fd, iov, count, off, rwf);
	pl_write_end(&w, fd, rc);
	return rc;
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int count, off64_t off, int rwf)
{
	struct pl_write w;
	ssize_t rc;

	if (pl_watched_fd(fd, w.path, sizeof(w.path)) != PL_FILE)
		return REAL(pwritev64v2)(fd, iov, count, off, rwf);
	pl_write_begin(&w, fd, pl_rwf_offset(fd, off, rwf), pl_iov_len(iov, count),
	               (rwf & (RWF_DSYNC | RWF_SYNC)) != 0);
	rc = REAL(pwritev64v2)(fd, iov, count, off, rwf);
	pl_write_end(&w, fd, rc);
	return rc;
}
#endif

/* A truncation changes the pages from the new end on, or only the size when it grows the file;
 * pl_lock held. */
static void pl_log_truncate(int fd, const char *path, uint64_t len)
{
	uint64_t size = pl_file_size(fd);

	if (len < size)
		pl_log_undo(fd, path, len, size - len);
	else if (len > size)
		pl_append(PL_UNDO, path, 0, 0, size, 0, NULL, 0);
}

int ftruncate(int fd, off_t len)
{
	char path[PATH_MAX];
	int rc, err;

	if (pl_watched_fd(fd, path, sizeof(path)) != PL_FILE || len < 0)
		return REAL(ftruncate)(fd, len);
	pthread_mutex_lock(&pl_lock);
	pl_log_truncate(fd, path, (uint64_t)len);
	rc = REAL(ftruncate)(fd, len);
	err = errno;
	pthread_mutex_unlock(&pl_lock);
	errno = err;
	return rc;
}

int ftruncate64(int fd, off64_t len)
{
	char path[PATH_MAX];
	int rc, err;

	if (pl_watched_fd(fd, path, sizeof(path)) != PL_FILE || len < 0)
		return REAL(ftruncate64)(fd, len);
	pthread_mutex_lock(&pl_lock);
	pl_log_truncate(fd, path, (uint64_t)len);
	rc = REAL(ftruncate64)(fd, len);
	err = errno;
	pthread_mutex_unlock(&pl_lock);
	errno = err;
	return rc;
}

/* truncate(2) by name: the undo is read through a descriptor of our own. */
static int pl_truncate_path(const char *name, int64_t len, int use64)
{
	char path[PATH_MAX];
	int fd = -1, rc, err;

	if (pl_active && len >= 0)
		fd = REAL(openat)(AT_FDCWD, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || pl_watched_fd(fd, path, sizeof(path)) != PL_FILE) {
		if (fd >= 0)
			close(fd);
		return use64 ? REAL(truncate64)(name, len) : REAL(truncate)(name, (off_t)len);
	}
	pthread_mutex_lock(&pl_lock);
	pl_log_truncate(fd, path, (uint64_t)len);
	rc = use64 ? REAL(truncate64)(name, len) : REAL(truncate)(name, (off_t)len);
	err = errno;
	pthread_mutex_unlock(&pl_lock);
	close(fd);
	errno = err;
	return rc;
}

int truncate(const char *name, off_t len)
{
	return pl_truncate_path(name, len, 0);
}

int truncate64(const char *name, off64_t len)
{
	return pl_truncate_path(name, len, 1);
}

/* fsync and fdatasync: for the log both make the file's data and size durable (boafs relies on
 * nothing else), and a directory's entries. */
static int pl_sync(int fd, int (*real)(int))
{
	char path[PATH_MAX];
	enum pl_watched kind = pl_watched_fd(fd, path, sizeof(path));
	uint64_t covers;
	int rc, err;

	if (kind == PL_NOT_WATCHED)
		return real(fd);
	/* Not held across the call: a write that is logged while it runs may or may not be in
	 * what it flushed, so `covers` leaves it out. */
	pthread_mutex_lock(&pl_lock);
	if (kind == PL_FILE && pl_kill_before_syncs && (!pl_arm[0] || access(pl_arm, F_OK) == 0) &&
	    !--pl_kill_before_syncs)
		kill(getpid(), SIGKILL); /* the power cut falls right before this fsync; pl_lock
		                          * stays held, so no other write reaches the archive */
	covers = pl_log_length();
	pthread_mutex_unlock(&pl_lock);
	rc = real(fd);
	if (rc)
		return rc;
	err = errno;
	pthread_mutex_lock(&pl_lock);
	pl_append(kind == PL_DIR ? PL_DIRSYNC : PL_SYNC, path, 0, 0, 0, covers, NULL, 0);
	if (kind == PL_DIR && pl_kill_after_dirsyncs && !--pl_kill_after_dirsyncs)
		kill(getpid(), SIGKILL); /* the power cut falls right after this directory fsync */
	pthread_mutex_unlock(&pl_lock);
	errno = err;
	return rc;
}

int fsync(int fd)
{
	return pl_sync(fd, REAL(fsync));
}

int fdatasync(int fd)
{
	return pl_sync(fd, REAL(fdatasync));
}

static uint64_t pl_syncall_begin(void)
{
	uint64_t covers;

	pthread_mutex_lock(&pl_lock);
	covers = pl_log_length();
	pthread_mutex_unlock(&pl_lock);
	return covers;
}

static void pl_syncall_end(uint64_t covers)
{
	int err = errno;

	pthread_mutex_lock(&pl_lock);
	pl_append(PL_SYNCALL, pl_dir, 0, 0, 0, covers, NULL, 0);
	pthread_mutex_unlock(&pl_lock);
	errno = err;
}

int syncfs(int fd)
{
	struct stat st;
	uint64_t covers;
	int rc;

	if (!pl_active || fstat(fd, &st) || st.st_dev != pl_dev)
		return REAL(syncfs)(fd);
	covers = pl_syncall_begin();
	rc = REAL(syncfs)(fd);
	if (!rc)
		pl_syncall_end(covers);
	return rc;
}

void sync(void)
{
	uint64_t covers;

	if (!pl_active) {
		REAL(sync)();
		return;
	}
	covers = pl_syncall_begin();
	REAL(sync)();
	pl_syncall_end(covers);
}

/* ---- creations ---- */

/* Logs `type` for `fd` when it is watched; fd stays open. */
static void pl_log_created(int fd, uint32_t type)
{
	char path[PATH_MAX];
	enum pl_watched kind = pl_watched_fd(fd, path, sizeof(path));
	int err = errno;

	if (kind == PL_NOT_WATCHED || (type == PL_MKDIR) != (kind == PL_DIR))
		return;
	pthread_mutex_lock(&pl_lock);
	pl_append(type, path, 0, 0, 0, 0, NULL, 0);
	pthread_mutex_unlock(&pl_lock);
	errno = err;
}

/* Whether `name` (relative to `dirfd`) is missing, so that an O_CREAT open creates it. */
static int pl_missing(int dirfd, const char *name, int flags)
{
	struct stat st;
	int err = errno, missing;

	if (!pl_active || !(flags & O_CREAT))
		return 0;
	missing = fstatat(dirfd, name, &st, 0) && errno == ENOENT;
	errno = err;
	return missing;
}

static mode_t pl_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, mode_t) : 0;
}

int open(const char *name, int flags, ...)
{
	va_list ap;
	mode_t mode;
	int missing = pl_missing(AT_FDCWD, name, flags), fd;

	va_start(ap, flags);
	mode = pl_mode(flags, ap);
	va_end(ap);
	fd = REAL(open)(name, flags, mode);
	if (fd >= 0 && missing)
		pl_log_created(fd, PL_CREATE);
	return fd;
}

int open64(const char *name, int flags, ...)
{
	va_list ap;
	mode_t mode;
	int missing = pl_missing(AT_FDCWD, name, flags), fd;

	va_start(ap, flags);
	mode = pl_mode(flags, ap);
	va_end(ap);
	fd = REAL(open64)(name, flags, mode);
	if (fd >= 0 && missing)
		pl_log_created(fd, PL_CREATE);
	return fd;
}

int openat(int dirfd, const char *name, int flags, ...)
{
	va_list ap;
	mode_t mode;
	int missing = pl_missing(dirfd, name, flags), fd;

	va_start(ap, flags);
	mode = pl_mode(flags, ap);
	va_end(ap);
	fd = REAL(openat)(dirfd, name, flags, mode);
	if (fd >= 0 && missing)
		pl_log_created(fd, PL_CREATE);
	return fd;
}

int openat64(int dirfd, const char *name, int flags, ...)
{
	va_list ap;
	mode_t mode;
	int missing = pl_missing(dirfd, name, flags), fd;

	va_start(ap, flags);
	mode = pl_mode(flags, ap);
	va_end(ap);
	fd = REAL(openat64)(dirfd, name, flags, mode);
	if (fd >= 0 && missing)
		pl_log_created(fd, PL_CREATE);
	return fd;
}

static void pl_log_mkdir(int dirfd, const char *name)
{
	int err = errno, fd;

	fd = REAL(openat)(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		pl_log_created(fd, PL_MKDIR);
		close(fd);
	}
	errno = err;
}

int mkdir(const char *name, mode_t mode)
{
	int rc = REAL(mkdir)(name, mode);

	if (!rc && pl_active)
		pl_log_mkdir(AT_FDCWD, name);
	return rc;
}

int mkdirat(int dirfd, const char *name, mode_t mode)
{
	int rc = REAL(mkdirat)(dirfd, name, mode);

	if (!rc && pl_active)
		pl_log_mkdir(dirfd, name);
	return rc;
}
