/* boafs — mounts a boafs archive: `boafs ARCHIVE MOUNTPOINT [options]`. Parses boafs' own
 * -o options, opens the archive, and runs libfuse's multithreaded session loop. */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boa.h"
#include "boa_model.h"
#include "fs.h"
#include "fs_archive.h"
#include "fs_log.h"
#include "fs_unwrap.h"
#include "fs_ops.h"

#ifndef BOAFS_VERSION
#define BOAFS_VERSION "unknown"
#endif

struct cli {
	char *archive;
	char *block_size;
	char *cache_size;
	int zstd_level;
	char *threads;
	char *fuse_threads;
	char *recompress;
	char *unwrap;
	char *model;
	char *log;
	int boa_level;
	int frozen_level;
	char *frozen;
	int read_only;
	enum fs_atime atime;
	int show_help;
	int show_version;
};

#define CLI_OPT(t, p)                                                                              \
	{                                                                                          \
		t, offsetof(struct cli, p), 1                                                      \
	}
/* clang-format off */
static const struct fuse_opt cli_spec[] = {
	CLI_OPT("block_size=%s", block_size),
	CLI_OPT("cache_size=%s", cache_size),
	CLI_OPT("zstd_level=%d", zstd_level),
	CLI_OPT("threads=%s", threads),
	CLI_OPT("fuse_threads=%s", fuse_threads),
	CLI_OPT("recompress=%s", recompress),
	CLI_OPT("unwrap=%s", unwrap),
	CLI_OPT("model=%s", model),
	CLI_OPT("log=%s", log),
	CLI_OPT("boa_level=%d", boa_level),
	CLI_OPT("frozen_level=%d", frozen_level),
	CLI_OPT("frozen=%s", frozen),
	FUSE_OPT_KEY("ro", FUSE_OPT_KEY_KEEP),
	CLI_OPT("-h", show_help),
	CLI_OPT("--help", show_help),
	CLI_OPT("-V", show_version),
	CLI_OPT("--version", show_version),
	FUSE_OPT_END,
};
/* clang-format on */

static void usage(const char *prog)
{
	printf("usage: %s ARCHIVE MOUNTPOINT [options]\n\n"
	       "Mounts the boafs archive directory ARCHIVE (created when missing or empty) on\n"
	       "MOUNTPOINT. Files are stored as compressed blocks; `du` shows stored bytes.\n\n"
	       "boafs options:\n"
	       "    -o block_size=BYTES    logical block size of a new archive, power of two,\n"
	       "                           4K..1M (default %uK; fixed once created)\n"
	       "    -o zstd_level=N        zstd level for new blocks, 1..19 (default %d)\n"
	       "    -o cache_size=BYTES    decoded-block cache (default %lluM; K/M/G suffixes)\n"
	       "    -o recompress=POLICY   background recompression with BOA: off, now, or\n"
	       "                           cold:SECONDS (blocks neither written nor read for\n"
	       "                           that long; default cold:%llu, 30 days)\n"
	       "    -o unwrap=MODE         already-compressed files (ROOT, gzip) stored as their\n"
	       "                           unwrapped bytes by the background workers: auto\n"
	       "                           (BOA or zstd -19 by cost; default), zstd, boa, off\n"
	       "    -o threads=N           recompression and read-ahead workers (default:\n"
	       "                           number of CPUs)\n"
	       "    -o boa_level=N         BOA level for cold blocks, 1..9 (default %d)\n"
	       "    -o frozen=SECONDS|off  blocks untouched that long are recoded at the\n"
	       "                           frozen level (default %llu, half a year)\n"
	       "    -o frozen_level=N      BOA level for frozen blocks, 1..9 (default %d)\n"
	       "    -o model=FILE.boam     add a trained model to the archive and recompress\n"
	       "                           with it from now on\n"
	       "    -o fuse_threads=N      maximum FUSE worker threads (default 16)\n"
	       "    -o ro                  mount read-only\n"
	       "    -o log=syslog|stderr|FILE\n"
	       "                           where the daemon logs once mounted (default: syslog\n"
	       "                           when it runs in the background from a terminal,\n"
	       "                           else stderr)\n"
	       "    -o relatime|noatime|strictatime\n"
	       "                           when reads update atime (default relatime)\n"
	       "    -h, --help             this help, then libfuse's options\n"
	       "    -V, --version          version\n\n",
	       prog, (unsigned)(FS_BLOCK_SIZE_DEFAULT >> 10), FS_ZSTD_LEVEL_DEFAULT,
	       (unsigned long long)(FS_CACHE_SIZE_DEFAULT >> 20),
	       (unsigned long long)FS_COLD_SECONDS_DEFAULT, FS_BOA_LEVEL_COLD_DEFAULT,
	       (unsigned long long)FS_FROZEN_SECONDS_DEFAULT, FS_BOA_LEVEL_FROZEN_DEFAULT);
}

/* A byte count with an optional K, M or G (KiB, MiB, GiB) suffix; no sign, no overflow. */
static int parse_size(const char *text, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (*text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	}
	if (*end == 'i' || *end == 'B')
		end += *end == 'i' && end[1] == 'B' ? 2 : 1;
	if (*end || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/* A decimal count in [min, max]; digits only. */
static int parse_count(const char *text, unsigned long min, unsigned long max, unsigned *out)
{
	unsigned long v;
	char *end;

	if (*text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int parse_recompress(const char *text, struct fs_options *fo)
{
	char *end;

	if (!strcmp(text, "off")) {
		fo->recompress = FS_RECOMPRESS_OFF;
		return 0;
	}
	if (!strcmp(text, "now")) {
		fo->recompress = FS_RECOMPRESS_NOW;
		return 0;
	}
	if (strncmp(text, "cold:", 5) || text[5] < '0' || text[5] > '9')
		return -EINVAL;
	errno = 0;
	fo->cold_seconds = strtoull(text + 5, &end, 10);
	if (errno || end == text + 5 || *end)
		return -EINVAL;
	fo->recompress = FS_RECOMPRESS_COLD;
	return 0;
}

static int cli_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct cli *cli = data;

	if (key == FUSE_OPT_KEY_NONOPT && !cli->archive) {
		char resolved[PATH_MAX];

		/* The daemon changes directory to / when it detaches: keep an absolute path. */
		if (realpath(arg, resolved)) {
			cli->archive = strdup(resolved);
		} else if (arg[0] != '/' && getcwd(resolved, sizeof(resolved))) {
			size_t len = strlen(resolved);

			snprintf(resolved + len, sizeof(resolved) - len, "/%s", arg);
			cli->archive = strdup(resolved);
		} else {
			cli->archive = strdup(arg);
		}
		return cli->archive ? 0 : -1;
	}
	if (key == FUSE_OPT_KEY_OPT && !strcmp(arg, "ro"))
		cli->read_only = 1;
	/* The kernel leaves atime to a FUSE file system: the daemon follows the same option. */
	if (key == FUSE_OPT_KEY_OPT && !strcmp(arg, "noatime"))
		cli->atime = FS_ATIME_NOATIME;
	if (key == FUSE_OPT_KEY_OPT && !strcmp(arg, "relatime"))
		cli->atime = FS_ATIME_RELATIME;
	if (key == FUSE_OPT_KEY_OPT && !strcmp(arg, "strictatime")) {
		cli->atime = FS_ATIME_STRICT;
		return 0; /* libfuse does not know it; the kernel leaves atime to us anyway */
	}
	return 1;
}

/* A SIGBUS outside the index's guarded LMDB calls (index/idx.c turns those into EIO): a mapped
 * file lost pages under us. Nothing can be answered safely after that; say why before dying, in
 * one line. */
static void on_mapping_fault(int sig)
{
	static const char msg[] = "boafs: fatal: the index (index/data.mdb) or a segment is "
	                          "damaged: a mapped page is missing; stopping. Run boa fsck.\n";

	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		(void)0;
	_exit(128 + sig);
}

/* A mountpoint that is already a mount point would get a second file system stacked on it. */
static int mountpoint_busy(const char *mountpoint)
{
	char parent[PATH_MAX];
	struct stat st, pst;

	if (stat(mountpoint, &st)) {
		fprintf(stderr, "boafs: %s: %s\n", mountpoint, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "boafs: %s: not a directory\n", mountpoint);
		return 1;
	}
	snprintf(parent, sizeof(parent), "%s/..", mountpoint);
	if (stat(parent, &pst) == 0 && (pst.st_dev != st.st_dev || pst.st_ino == st.st_ino) &&
	    strcmp(mountpoint, "/")) {
		fprintf(stderr, "boafs: %s: already a mount point\n", mountpoint);
		return 1;
	}
	return 0;
}

/* Forks; the parent exits 0 once the child reports a working mount, 1 otherwise. Returns the
 * child's end of the pipe, or -1. */
static int detach(void)
{
	int fds[2];
	pid_t pid;
	char status = 1;

	if (pipe(fds)) {
		perror("boafs: pipe");
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		perror("boafs: fork");
		return -1;
	}
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &status, 1) != 1)
			status = 1;
		_exit(status ? 1 : 0);
	}
	close(fds[0]);
	setsid();
	return fds[1];
}

/* The mount is up: release the waiting parent and leave the terminal. Log lines go where
 * -o log= says (apply_log, called first). */
static void report_ready(int fd)
{
	char ok = 0;
	int null_fd = open("/dev/null", O_RDWR);

	if (chdir("/"))
		(void)0;
	if (null_fd >= 0) {
		dup2(null_fd, STDIN_FILENO);
		dup2(null_fd, STDOUT_FILENO);
		if (null_fd > STDERR_FILENO)
			close(null_fd);
	}
	if (write(fd, &ok, 1) != 1)
		(void)0;
	close(fd);
}

/* "-ofsname=ARCHIVE", with the commas and backslashes that -o parsing would split on escaped. */
static int fsname_arg(const char *archive, char **out)
{
	size_t n = strlen(archive);
	char *p = malloc(strlen("-ofsname=") + 2 * n + 1);

	*out = p;
	if (!p) {
		fprintf(stderr, "boafs: out of memory\n");
		return -ENOMEM;
	}
	p += sprintf(p, "-ofsname=");
	for (size_t i = 0; i < n; i++) {
		if (archive[i] == ',' || archive[i] == '\\')
			*p++ = '\\';
		*p++ = archive[i];
	}
	*p = '\0';
	return 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct cli cli = {.zstd_level = FS_ZSTD_LEVEL_DEFAULT,
	                  .boa_level = FS_BOA_LEVEL_COLD_DEFAULT,
	                  .frozen_level = FS_BOA_LEVEL_FROZEN_DEFAULT};
	unsigned fuse_threads = 16;
	struct fuse_cmdline_opts opts = {0};
	char mnt_path[PATH_MAX];
	int ready_pipe = -1, log_fd = -1, log_syslog = 0;
	struct fuse_loop_config *loop = NULL;
	struct fuse_session *se = NULL;
	struct fs_options fo = {0};
	struct fs *fs = NULL;
	char *fsname = NULL;
	uint64_t v;
	int rc = 1;

	if (fuse_opt_parse(&args, &cli, cli_spec, cli_proc) == -1)
		goto out_args; /* what was parsed before the bad option is freed there */
	if (cli.show_version) {
		printf("boafs %s (libfuse %s)\n", BOAFS_VERSION, fuse_pkgversion());
		rc = 0;
		goto out_args;
	}
	if (cli.show_help) {
		usage(argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		rc = 0;
		goto out_args;
	}
	if (fuse_parse_cmdline(&args, &opts) != 0)
		goto out_args;
	if (!cli.archive || !opts.mountpoint) {
		fprintf(stderr, "usage: %s ARCHIVE MOUNTPOINT [options]  (--help for more)\n",
		        argv[0]);
		goto out_args;
	}

	fo.block_size = FS_BLOCK_SIZE_DEFAULT;
	fo.cache_size = FS_CACHE_SIZE_DEFAULT;
	fo.zstd_level = cli.zstd_level;
	fo.read_only = cli.read_only;
	if (cli.block_size) {
		if (parse_size(cli.block_size, &v) || v < 4096 || v > (1 << 20) || (v & (v - 1))) {
			fprintf(stderr, "boafs: block_size=%s: must be a power of two, 4K..1M\n",
			        cli.block_size);
			goto out_args;
		}
		fo.block_size = (uint32_t)v;
	}
	if (cli.cache_size) {
		if (parse_size(cli.cache_size, &v) || v > (1ull << 40)) {
			fprintf(stderr, "boafs: cache_size=%s: not a size up to 1T\n",
			        cli.cache_size);
			goto out_args;
		}
		fo.cache_size = v;
	}
	if (cli.zstd_level < 1 || cli.zstd_level > 19) {
		fprintf(stderr, "boafs: zstd_level=%d: must be 1..19\n", cli.zstd_level);
		goto out_args;
	}
	if (!cli.threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		fo.threads = n > 0 ? (unsigned)n : 1;
	} else if (parse_count(cli.threads, 1, 64, &fo.threads)) {
		fprintf(stderr, "boafs: threads=%s: must be 1..64\n", cli.threads);
		goto out_args;
	}
	if (cli.fuse_threads && parse_count(cli.fuse_threads, 1, 1024, &fuse_threads)) {
		fprintf(stderr, "boafs: fuse_threads=%s: must be 1..1024\n", cli.fuse_threads);
		goto out_args;
	}
	if (boa_level_uses_model(cli.boa_level) < 0) {
		fprintf(stderr, "boafs: boa_level=%d: must be %d..%d\n", cli.boa_level,
		        BOA_LEVEL_MIN, BOA_LEVEL_MAX);
		goto out_args;
	}
	fo.boa_level = cli.boa_level;
	if (boa_level_uses_model(cli.frozen_level) < 0) {
		fprintf(stderr, "boafs: frozen_level=%d: must be %d..%d\n", cli.frozen_level,
		        BOA_LEVEL_MIN, BOA_LEVEL_MAX);
		goto out_args;
	}
	fo.frozen_level = cli.frozen_level;
	fo.frozen_seconds = FS_FROZEN_SECONDS_DEFAULT;
	if (cli.frozen && !strcmp(cli.frozen, "off")) {
		fo.frozen_level = 0;
	} else if (cli.frozen) {
		char *end;

		errno = 0;
		fo.frozen_seconds = strtoull(cli.frozen, &end, 10);
		if (cli.frozen[0] < '0' || cli.frozen[0] > '9' || errno || *end) {
			fprintf(stderr, "boafs: frozen=%s: expected SECONDS or off\n", cli.frozen);
			goto out_args;
		}
	}
	fo.model_path = cli.model;
	if (cli.model) {
		/* Checked before anything is made: a mistyped model= must not leave an archive. */
		struct boa_model *m = NULL;
		char err[200];

		if (boa_model_load_file(cli.model, &m, err, sizeof(err))) {
			fprintf(stderr, "boafs: model=%s: %s\n", cli.model, err);
			goto out_args;
		}
		boa_model_free(m);
	}
	fo.recompress = FS_RECOMPRESS_COLD;
	fo.cold_seconds = FS_COLD_SECONDS_DEFAULT;
	fo.atime = cli.atime;
	if (cli.recompress && parse_recompress(cli.recompress, &fo)) {
		fprintf(stderr, "boafs: recompress=%s: expected off, now or cold:SECONDS\n",
		        cli.recompress);
		goto out_args;
	}
	if (cli.unwrap) {
		static const char *const modes[] = {[FS_UNWRAP_AUTO] = "auto",
		                                    [FS_UNWRAP_OFF] = "off",
		                                    [FS_UNWRAP_ZSTD] = "zstd",
		                                    [FS_UNWRAP_BOA] = "boa"};
		size_t m = 0;

		while (m < sizeof(modes) / sizeof(*modes) && strcmp(modes[m], cli.unwrap))
			m++;
		if (m == sizeof(modes) / sizeof(*modes)) {
			fprintf(stderr, "boafs: unwrap=%s: expected auto, zstd, boa or off\n",
			        cli.unwrap);
			goto out_args;
		}
		fo.unwrap = (int)m;
	}
	/* The kernel checks permissions with the attributes we report, as on a local disk. */
	fuse_opt_add_arg(&args, "-odefault_permissions");
	/* The archive as the mount's source, so that mount, df and findmnt say which archive is
	 * mounted where, and boa stats MOUNTPOINT finds it. */
	if (fsname_arg(cli.archive, &fsname))
		goto out_args;
	fuse_opt_add_arg(&args, fsname);
	fuse_opt_add_arg(&args, "-osubtype=boafs");

	/* Never to the terminal that started a daemon in the background: syslog (journald) then,
	 * unless told otherwise. A log file is opened now, so that a bad path is an error here. */
	if (!cli.log)
		log_syslog = !opts.foreground && isatty(STDERR_FILENO);
	else if (!strcmp(cli.log, "syslog"))
		log_syslog = 1;
	else if (strcmp(cli.log, "stderr")) {
		log_fd = open(cli.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (log_fd < 0) {
			fprintf(stderr, "boafs: log=%s: %s\n", cli.log, strerror(errno));
			goto out_args;
		}
	}
	if (mountpoint_busy(opts.mountpoint))
		goto out_args;
	/* Detach before opening the archive: LMDB's locks do not survive fork(), and the parent
	 * waits for the child's word so that a failed mount still exits non-zero. */
	if (!opts.foreground) {
		ready_pipe = detach();
		if (ready_pipe < 0)
			goto out_args;
	}
	if (realpath(opts.mountpoint, mnt_path))
		fo.mountpoint = mnt_path;
	/* Before fs_open: the index's fault guard keeps this one for faults outside LMDB. */
	signal(SIGBUS, on_mapping_fault);
	if (fs_open(cli.archive, &fo, &fs))
		goto out_args;
	se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), fs);
	if (!se)
		goto out_fs;
	if (fuse_set_signal_handlers(se))
		goto out_session;
	if (fuse_session_mount(se, opts.mountpoint))
		goto out_signals;
	/* Mounted: errors up to here went to the terminal; from now on, to the log. */
	if (log_syslog && fs_log_to_syslog())
		fprintf(stderr, "boafs: cannot log to syslog; logging to stderr\n");
	if (log_fd >= 0) {
		fs_log_to_file(log_fd);
		log_fd = -1;
	}
	fs_ops_attach(fs, se);
	if (ready_pipe >= 0) {
		report_ready(ready_pipe);
		ready_pipe = -1;
	}
	if (opts.singlethread) {
		rc = fuse_session_loop(se);
	} else {
		loop = fuse_loop_cfg_create();
		if (!loop)
			goto out_unmount;
		fuse_loop_cfg_set_clone_fd(loop, opts.clone_fd);
		fuse_loop_cfg_set_max_threads(loop, fuse_threads);
		if (opts.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(loop, opts.max_idle_threads);
		rc = fuse_session_loop_mt(se, loop);
		fuse_loop_cfg_destroy(loop);
	}
	/* The loop returns the number of the signal that ended it: SIGTERM, SIGINT and SIGHUP
	 * are the ordinary ways to stop a daemon, so they exit 0 once everything is stored. */
	rc = rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP ? 0 : 1;
out_unmount:
	fs_ops_detach(fs);
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_fs:
	if (fs_close(fs)) {
		fs_log("%s: final index sync failed", cli.archive);
		rc = 1;
	}
out_args:
	fs_log_end();
	if (log_fd >= 0)
		close(log_fd);
	free(cli.log);
	free(cli.frozen);
	free(fsname);
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	free(cli.archive);
	free(cli.block_size);
	free(cli.cache_size);
	free(cli.recompress);
	free(cli.unwrap);
	free(cli.model);
	free(cli.threads);
	free(cli.fuse_threads);
	return rc;
}
