/* Opening and closing an archive: ARCHIVE/ (mode 0700) holds index/ and seg/. An empty or
 * missing directory becomes a new archive; anything else must already be one. */
#include <dirent.h>
#include <limits.h>
#include <fcntl.h>
#include <sys/file.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boa_model.h"
#include "codec.h"
#include "fs.h"
#include "fs_account.h"
#include "fs_archive.h"
#include "fs_cache.h"
#include "fs_file.h"
#include "fs_gc.h"
#include "fs_log.h"
#include "fs_model.h"
#include "fs_node.h"
#include "fs_prefetch.h"
#include "fs_heat.h"
#include "fs_recompress.h"
#include "fs_unwrap.h"

static int load_accounting(struct fs *fs)
{
	struct idx_txn *t = NULL;
	int rc = idx_read_begin(fs->idx, &t);

	if (rc)
		return rc;
	rc = fs_account_load(fs, t);
	idx_read_end(t);
	return rc;
}

static int store_accounting(struct fs *fs)
{
	struct idx_txn *t = NULL;
	int rc = idx_write_begin(fs->idx, &t);

	if (rc)
		return rc;
	rc = fs_account_store(fs, t);
	if (rc) {
		idx_write_abort(t);
		return rc;
	}
	return idx_write_commit(t);
}

/* Makes the entries of `dir` durable (fsync of the directory itself); 0 or a negative errno. */
static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		rc = -errno;
	close(fd);
	return rc;
}

/* A new archive's directories, files and first commit on stable storage before anything is
 * written into it: otherwise a power cut soon after could lose index/data.mdb's or seg/'s
 * directory entry, and every fsync acknowledged inside with it. */
static int make_durable(const char *archive, struct fs *fs)
{
	static const char *const subdirs[] = {"index", "seg", ""};
	char path[4096], parent[4096];
	int rc = idx_sync(fs->idx);

	for (size_t i = 0; !rc && i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", archive, subdirs[i]);
		rc = fsync_dir(path);
	}
	if (!rc) { /* the archive's own entry */
		snprintf(parent, sizeof(parent), "%s/..", archive);
		rc = fsync_dir(parent);
	}
	if (rc)
		fs_log("%s: cannot make the new archive durable: %s", archive, strerror(-rc));
	return rc;
}

/* 1 if `dir` has no entries, 0 if it has, negative errno if it cannot be read. */
static int dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

/* The first entry of `dir` other than . and .., for an error message; "" if none. */
static void first_entry(const char *dir, char *out, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	out[0] = '\0';
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(out, cap, "%s", e->d_name);
			break;
		}
	}
	closedir(d);
}

/* A non-empty directory is opened only if it is an archive: index/data.mdb a regular file and
 * seg/ a directory. Checked before anything is written (ARCHIVE/lock, LMDB's lock.mdb), so a
 * directory that merely has an index/ folder is left exactly as it was. Logs what was found. */
static int archive_check(const char *archive)
{
	char path[4096], seen[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/index", archive);
	if (stat(path, &st) || !S_ISDIR(st.st_mode)) {
		first_entry(archive, seen, sizeof(seen));
		fs_log("%s: not a boafs archive: no index/ directory (it holds '%s', ...); "
		       "leaving it untouched",
		       archive, seen);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/index/data.mdb", archive);
	if (stat(path, &st) || !S_ISREG(st.st_mode)) {
		fs_log("%s: not a boafs archive: an index/ directory without index/data.mdb; "
		       "leaving it untouched",
		       archive);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/seg", archive);
	if (stat(path, &st) || !S_ISDIR(st.st_mode)) {
		fs_log("%s: not a boafs archive: index/data.mdb but no seg/ directory; leaving it "
		       "untouched",
		       archive);
		return -EINVAL;
	}
	return 0;
}

struct orphan_batch {
	uint64_t inos[256];
	size_t count;
};

static int collect_orphan(void *arg, uint64_t ino)
{
	struct orphan_batch *b = arg;

	if (b->count == sizeof(b->inos) / sizeof(b->inos[0]))
		return 1; /* batch full: stop the walk, free these, walk again */
	b->inos[b->count++] = ino;
	return 0;
}

/* Inodes unlinked while open when the daemon last stopped are freed now. */
static int reap_orphans(struct fs *fs)
{
	struct orphan_batch batch;
	struct idx_txn *t = NULL;
	int rc, more;

	do {
		batch.count = 0;
		rc = idx_read_begin(fs->idx, &t);
		if (rc)
			return rc;
		more = idx_orphan_each(t, collect_orphan, &batch);
		idx_read_end(t);
		if (more < 0)
			return more;
		for (size_t i = 0; i < batch.count; i++) {
			rc = fs_node_reap(fs, batch.inos[i]);
			if (rc)
				return rc;
		}
	} while (more);
	return 0;
}

/* One writer per archive: a mounted daemon, or boa gc / fsck --repair. Two would append to the
 * same segment ids. Readers (a read-only mount, boa stats, boa fsck) share the lock or skip it. */
#define FS_LOCK_WAIT_TENTHS 300

/* The mountpoint the lock holder recorded, if a boafs file system is mounted there now;
 * else an empty string. */
static void lock_holder(int fd, char *out, size_t cap)
{
	char recorded[PATH_MAX + 2], line[2 * PATH_MAX];
	ssize_t n = pread(fd, recorded, sizeof(recorded) - 1, 0);
	FILE *mounts;

	out[0] = '\0';
	if (n <= 1)
		return;
	recorded[n] = '\0';
	recorded[strcspn(recorded, "\n")] = '\0';
	mounts = fopen("/proc/self/mounts", "r");
	if (!mounts)
		return;
	while (fgets(line, sizeof(line), mounts)) {
		char dev[256], dir[PATH_MAX], type[64];

		if (sscanf(line, "%255s %4095s %63s", dev, dir, type) == 3 &&
		    !strcmp(type, "fuse.boafs") && !strcmp(dir, recorded)) {
			snprintf(out, cap, "%s", recorded);
			break;
		}
	}
	fclose(mounts);
}

static int lock_archive(struct fs *fs)
{
	char path[4096];
	int exclusive = !fs->opt.read_only && fs->opt.admin != FS_ADMIN_READ;

	if (fs->opt.admin == FS_ADMIN_READ)
		return 0;
	snprintf(path, sizeof(path), "%s/lock", fs->archive);
	fs->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fs->lock_fd < 0) {
		if (errno == EROFS || errno == EACCES) {
			if (!exclusive)
				return 0; /* a read-only archive: nobody can write it anyway */
		}
		fs_log("%s: %s", path, strerror(errno));
		return -errno;
	}
	/* A daemon that was just unmounted may still be finishing (flushing, stopping its
	 * recompression workers): wait a while for it rather than fail a quick remount. One
	 * whose mount is still there is not going away. */
	for (int waited = 0;; waited++) {
		char holder[PATH_MAX + 32];

		if (!flock(fs->lock_fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB))
			break;
		if (errno != EWOULDBLOCK) {
			fs_log("%s: lock: %s", path, strerror(errno));
			return -errno;
		}
		lock_holder(fs->lock_fd, holder, sizeof(holder));
		if (waited == FS_LOCK_WAIT_TENTHS || fs->opt.admin || holder[0]) {
			if (holder[0])
				fs_log("%s: archive is in use: mounted on %s", fs->archive, holder);
			else
				fs_log("%s: archive is in use (by boa gc or fsck --repair, or a "
				       "boafs that does not exit)",
				       fs->archive);
			return -EBUSY;
		}
		usleep(100000);
	}
	if (exclusive && fs->opt.mountpoint) {
		/* Say who holds it, for the next one that finds it locked, and whether its pool
		 * recompresses at all (boa wait reads it: mount options are not in mountinfo). */
		char line[PATH_MAX + 32];
		int len = snprintf(line, sizeof(line), "%s\nrecompress=%s\n", fs->opt.mountpoint,
		                   fs->opt.recompress == FS_RECOMPRESS_OFF ? "off" : "on");

		if (ftruncate(fs->lock_fd, 0) || pwrite(fs->lock_fd, line, (size_t)len, 0) != len)
			fs_log("%s: cannot record the mountpoint: %s", path, strerror(errno));
	}
	return 0;
}

int fs_open(const char *archive, const struct fs_options *opt, struct fs **out)
{
	struct fs *fs = NULL;
	char path[4096];
	struct stat st;
	int create = 0, rc;

	if (stat(archive, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			fs_log("%s: not a directory (an archive is a directory)", archive);
			return -ENOTDIR;
		}
		rc = dir_is_empty(archive);
		if (rc < 0) {
			fs_log("%s: %s", archive, strerror(-rc));
			return rc;
		}
		create = rc;
	} else if (errno == ENOENT && (opt->admin || opt->read_only)) {
		/* Only a writable mount creates an archive: a command that reads one (or a
		 * read-only mount) says that nothing is there, and leaves no directory behind. */
		fs_log("%s: %s", archive, strerror(errno));
		return -ENOENT;
	} else if (errno == ENOENT) {
		if (mkdir(archive, 0700)) {
			rc = -errno;
			fs_log("%s: cannot create archive: %s", archive, strerror(errno));
			return rc;
		}
		create = 1;
	} else {
		rc = -errno;
		fs_log("%s: %s", archive, strerror(errno));
		return rc;
	}
	if (create && opt->admin) {
		fs_log("%s: not a boafs archive (empty)", archive);
		return -EINVAL;
	}
	if (create && opt->read_only) {
		fs_log("%s: empty archive cannot be mounted read-only", archive);
		return -EROFS;
	}
	if (!create) {
		rc = archive_check(archive);
		if (rc)
			return rc;
	} else if (chmod(archive, 0700)) {
		rc = -errno;
		fs_log("%s: %s", archive, strerror(errno));
		return rc;
	}

	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->opt = *opt;
	fs->archive = strdup(archive);
	fs->nodes_cap = 1024;
	fs->node_flush = fs_file_flush_locked;
	fs->ncpu = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? (size_t)sysconf(_SC_NPROCESSORS_ONLN) : 1;
	fs->nodes = calloc(fs->nodes_cap, sizeof(*fs->nodes));
	if (!fs->archive || !fs->nodes) {
		rc = -ENOMEM;
		goto fail;
	}
	pthread_mutex_init(&fs->ns_lock, NULL);
	pthread_mutex_init(&fs->nodes_lock, NULL);
	pthread_rwlock_init(&fs->seg_remove_lock, NULL);
	pthread_mutex_init(&fs->gc_lock, NULL);
	fs->lock_fd = -1;
	rc = lock_archive(fs);
	if (rc)
		goto fail;
	/* Shared BOA contexts are for decoders only (recompression workers own theirs): every core
	 * in the foreground and the read-ahead workers at once. */
	rc = codec_new(opt->zstd_level, fs->ncpu + (opt->threads ? opt->threads : 1), &fs->codec);
	if (rc)
		goto fail;
	rc = fs_heat_new(&fs->heat);
	if (rc)
		goto fail;
	rc = fs_models_new(&fs->models);
	if (rc)
		goto fail;

	snprintf(path, sizeof(path), "%s/index", archive);
	/* idx says what is wrong with an index on its own line; one line per failure. */
	rc = idx_open(path, create, &fs->opt.block_size, getuid(), getgid(), &fs->idx);
	if (rc)
		goto fail;
	snprintf(path, sizeof(path), "%s/seg", archive);
	rc = seg_open(path, create, &fs->seg);
	if (rc) {
		fs_log("%s: cannot open segments: %s", archive, strerror(-rc));
		goto fail;
	}
	rc = fs_cache_new(fs->opt.cache_size, fs->opt.block_size, &fs->cache);
	if (rc)
		goto fail;
	if (!opt->read_only && !opt->admin) {
		rc = reap_orphans(fs);
		if (rc) {
			fs_log("%s: cannot free orphaned inodes: %s", archive, strerror(-rc));
			goto fail;
		}
	}
	rc = load_accounting(fs);
	if (rc)
		goto fail;
	rc = fs_unwrap_open(fs);
	if (rc) {
		fs_log("%s: cannot check the unwrap libraries: %s", archive, strerror(-rc));
		goto fail;
	}
	if (opt->admin)
		goto done;
	if (create) {
		/* A new archive carries the built-in model, so BOA blocks never depend on which
		 * boafs binary reads them. */
		const void *bytes;
		size_t len;

		rc = boa_model_builtin_bytes("default", &bytes, &len);
		if (!rc)
			rc = fs_model_install(fs, bytes, len, 1, NULL);
		if (rc) {
			fs_log("%s: cannot install the default model: %s", archive, strerror(-rc));
			goto fail;
		}
		rc = make_durable(archive, fs);
		if (rc)
			goto fail;
	}
	if (opt->model_path && !opt->read_only) {
		rc = fs_model_install_file(fs, opt->model_path);
		if (rc)
			goto fail;
	}
	if (!opt->read_only)
		fs_reserve_take(fs); /* best effort: a full disk simply has none */
	rc = fs_prefetch_start(fs, fs_file_prefetch);
	if (rc)
		goto fail;
	/* An archive that holds BOA blocks (it has encoded some) gets two coder contexts made and
	 * reset now: the first cold reads after mounting would otherwise also allocate them and
	 * fault their tables in (2 ms more each at level 2). Two: a reader's next read arrives
	 * while the context of its last is still being reset (fs_block_idle). Best effort: the
	 * reads do it otherwise. */
	if (__atomic_load_n(&fs->cpu_bytes[CODEC_BOA][FS_CPU_ENCODE], __ATOMIC_RELAXED))
		(void)codec_boa_warm(fs->codec, opt->boa_level, opt->block_size, 2);
	rc = fs_recompress_start(fs);
	if (rc) {
		fs_log("%s: cannot start recompression: %s", archive, strerror(-rc));
		goto fail;
	}
done:
	*out = fs;
	return 0;
fail:
	fs_close(fs);
	return rc;
}

int fs_close(struct fs *fs)
{
	int rc = 0;

	if (!fs)
		return 0;
	__atomic_store_n(&fs->stopping, 1, __ATOMIC_RELAXED);
	fs_recompress_stop(fs);
	fs_prefetch_stop(fs);
	if (fs->nodes)
		fs_nodes_drop_all(fs);
	if (fs->idx) {
		if (!fs->opt.read_only && fs->opt.admin != FS_ADMIN_READ)
			store_accounting(fs);
		if (!fs->opt.read_only && fs->opt.admin == FS_DAEMON)
			fs_reserve_release(fs); /* only a mounted archive needs it */
		rc = idx_sync(fs->idx);
		idx_close(fs->idx);
	}
	seg_close(fs->seg);
	fs_cache_free(fs->cache);
	fs_unwrap_close(fs);
	fs_models_free(fs->models);
	fs_heat_free(fs->heat);
	codec_free(fs->codec);
	if (fs->lock_fd >= 0)
		close(fs->lock_fd);
	free(fs->nodes);
	free(fs->archive);
	free(fs);
	return rc;
}
