/* cmd_bench — `boa bench`: ratio and speed of BOA levels side by side with zstd, xz, bzip2,
 * brotli and (when its program is installed) zpaq, on the same files in the same run. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zstd.h>
#include <lzma.h>
#include <bzlib.h>
#include <brotli/encode.h>
#include <brotli/decode.h>

#include "prog.h"
#include "unwrap.h"

struct bench_codec {
	const char *name;
	int boa_level; /* > 0: a boa level */
	int peer;      /* else: which peer */
	int arg;
	const struct boa_model *model; /* for boa levels that use one */
	const char *tool;              /* PEER_ZPAQ: the program's absolute path */
	int unwrap; /* a boa level coding the file's unwrapped bytes, as boa compress stores it */
};

enum { PEER_ZSTD, PEER_XZ, PEER_BZ2, PEER_BROTLI, PEER_ZPAQ };

static int peer_compress(const struct bench_codec *c, const uint8_t *in, size_t len, uint8_t *out,
                         size_t cap, size_t *out_len)
{
	switch (c->peer) {
	case PEER_ZSTD: {
		size_t n = ZSTD_compress(out, cap, in, len, c->arg);

		if (ZSTD_isError(n))
			return -EIO;
		*out_len = n;
		return 0;
	}
	case PEER_XZ: {
		size_t pos = 0;

		if (lzma_easy_buffer_encode((uint32_t)c->arg | LZMA_PRESET_EXTREME,
		                            LZMA_CHECK_CRC64, NULL, in, len, out, &pos,
		                            cap) != LZMA_OK)
			return -EIO;
		*out_len = pos;
		return 0;
	}
	case PEER_BZ2: {
		unsigned int n = (unsigned int)cap;

		if (BZ2_bzBuffToBuffCompress((char *)out, &n, (char *)(uintptr_t)in,
		                             (unsigned int)len, c->arg, 0, 0) != BZ_OK)
			return -EIO;
		*out_len = n;
		return 0;
	}
	default: {
		size_t n = cap;

		if (!BrotliEncoderCompress(c->arg, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, len,
		                           in, &n, out))
			return -EIO;
		*out_len = n;
		return 0;
	}
	}
}

static int peer_decompress(const struct bench_codec *c, const uint8_t *in, size_t len, uint8_t *out,
                           size_t raw_len)
{
	switch (c->peer) {
	case PEER_ZSTD: {
		size_t n = ZSTD_decompress(out, raw_len, in, len);

		return ZSTD_isError(n) || n != raw_len ? -EIO : 0;
	}
	case PEER_XZ: {
		size_t ipos = 0, opos = 0;
		uint64_t memlimit = UINT64_MAX;

		if (lzma_stream_buffer_decode(&memlimit, 0, NULL, in, &ipos, len, out, &opos,
		                              raw_len) != LZMA_OK)
			return -EIO;
		return opos == raw_len ? 0 : -EIO;
	}
	case PEER_BZ2: {
		unsigned int n = (unsigned int)raw_len;

		if (BZ2_bzBuffToBuffDecompress((char *)out, &n, (char *)(uintptr_t)in,
		                               (unsigned int)len, 0, 0) != BZ_OK)
			return -EIO;
		return n == raw_len ? 0 : -EIO;
	}
	default: {
		size_t n = raw_len;

		if (BrotliDecoderDecompress(len, in, &n, out) != BROTLI_DECODER_RESULT_SUCCESS)
			return -EIO;
		return n == raw_len ? 0 : -EIO;
	}
	}
}

struct bench_row {
	uint64_t raw, stored;
	double ctime, dtime;
	int failed;
};

/* ---- zpaq, a peer run as a program ---- */

/* zpaq has no library (not in Debian at least), so bench runs the zpaq program on a copy of the
 * file in a private directory: `zpaq a in.zpaq in -m5`, then `zpaq x in.zpaq in -to out`. zpaq
 * runs in that directory, so the archive stores the name "in", not a temporary path that would
 * add to its size. */

/* The absolute path of the executable `name` in $PATH, or NULL. Free it. */
static char *path_find(const char *name)
{
	const char *path = getenv("PATH");
	char *found = NULL;

	if (!path)
		path = "/bin:/usr/bin"; /* what execvp searches then */
	for (;;) {
		const char *end = strchrnul(path, ':');
		int dir_len = (int)(end - path);
		char *candidate;
		struct stat st;

		/* an empty entry is the current directory */
		if (asprintf(&candidate, "%.*s/%s", dir_len ? dir_len : 1, dir_len ? path : ".",
		             name) < 0)
			return NULL;
		if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && !access(candidate, X_OK))
			found = realpath(candidate, NULL);
		free(candidate);
		if (found || !*end)
			return found;
		path = end + 1;
	}
}

/* Runs argv (argv[0] an absolute path) in `dir` with stdin, stdout and stderr on /dev/null.
 * Returns 0 if it exits with status 0; else says why on stderr and returns -EIO. */
static int tool_run(char *const argv[], const char *dir)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc, status;

	rc = posix_spawn_file_actions_init(&fa);
	if (rc)
		goto out_msg;
	rc = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
	if (!rc)
		rc = posix_spawn_file_actions_addchdir_np(&fa, dir);
	if (!rc)
		rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		goto out_msg;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			rc = errno;
			goto out_msg;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		fail("bench: %s %s exited with status %d", argv[0], argv[1], WEXITSTATUS(status));
	else
		fail("bench: %s %s was killed by signal %d", argv[0], argv[1], WTERMSIG(status));
	return -EIO;
out_msg:
	fail("bench: cannot run %s %s: %s", argv[0], argv[1], strerror(rc));
	return -EIO;
}

static int file_write_at(int dir_fd, const char *name, const uint8_t *data, size_t len)
{
	int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int rc = 0;

	if (fd < 0)
		return -errno;
	while (len && !rc) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno != EINTR)
			rc = -errno;
		else if (n > 0)
			data += n, len -= (size_t)n;
	}
	if (close(fd) && !rc)
		rc = -errno;
	return rc;
}

/* Reads `name` into buf, which has room for len + 1 bytes; -EIO unless it holds exactly len. */
static int file_read_at(int dir_fd, const char *name, uint8_t *buf, size_t len)
{
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	int rc = 0;

	if (fd < 0)
		return -errno;
	while (got <= len) {
		ssize_t n = read(fd, buf + got, len + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return rc ? rc : got == len ? 0 : -EIO;
}

/* Empties the directory (one level: zpaq writes only files there) and removes it. */
static void dir_remove(int dir_fd, const char *dir)
{
	DIR *d = fdopendir(dir_fd);
	struct dirent *e;

	if (!d) {
		close(dir_fd);
	} else {
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				unlinkat(dir_fd, e->d_name, 0);
		closedir(d);
	}
	if (rmdir(dir))
		fail("bench: cannot remove %s: %s", dir, strerror(errno));
}

/* Round-trips data through `zpaq -mN` (N = c->arg) and compares the bytes, adding to row:
 * stored is the archive's size, the times the wall clock of each command. */
static int bench_zpaq(const struct bench_codec *c, const uint8_t *data, size_t len, uint8_t *back,
                      struct bench_row *row)
{
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX], method[16];
	char *add[] = {(char *)c->tool, "a", "in.zpaq", "in", method, NULL};
	char *extract[] = {(char *)c->tool, "x", "in.zpaq", "in", "-to", "out", NULL};
	struct stat st;
	double t0, t1, t2, t3;
	int rc, dir_fd;

	snprintf(method, sizeof(method), "-m%d", c->arg);
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (snprintf(dir, sizeof(dir), "%s/boa-bench-XXXXXX", tmp) >= (int)sizeof(dir)) {
		fail("bench: TMPDIR is too long");
		return -ENAMETOOLONG;
	}
	if (!mkdtemp(dir)) {
		rc = -errno;
		fail("bench: cannot make a directory in %s: %s", tmp, strerror(errno));
		return rc;
	}
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0) {
		rc = -errno;
		fail("bench: cannot open %s: %s", dir, strerror(errno));
		rmdir(dir);
		return rc;
	}
	rc = file_write_at(dir_fd, "in", data, len);
	if (rc) {
		fail("bench: cannot write a copy into %s: %s", dir, strerror(-rc));
		goto out;
	}
	t0 = now_s();
	rc = tool_run(add, dir);
	t1 = now_s();
	if (rc)
		goto out;
	if (fstatat(dir_fd, "in.zpaq", &st, 0)) {
		rc = -errno;
		fail("bench: %s a wrote no archive: %s", c->tool, strerror(errno));
		goto out;
	}
	t2 = now_s();
	rc = tool_run(extract, dir);
	t3 = now_s();
	if (rc)
		goto out;
	rc = file_read_at(dir_fd, "out", back, len);
	if (!rc && memcmp(back, data, len))
		rc = -EIO;
	if (rc) {
		fail("bench: %s x did not give back the original bytes", c->tool);
		goto out;
	}
	row->raw += len;
	row->stored += (uint64_t)st.st_size;
	row->ctime += t1 - t0;
	row->dtime += t3 - t2;
out:
	dir_remove(dir_fd, dir);
	return rc;
}

/* Compresses one file's bytes with codec c (boa: in chunks of `chunk` bytes, one thread) and
 * back, adding to row. */
static int bench_one(const struct bench_codec *c, struct boa_ctx *ctx, const struct boa_model *m,
                     const uint8_t *data, size_t len, uint32_t chunk, uint8_t *comp, size_t cap,
                     uint8_t *back, struct bench_row *row)
{
	size_t stored = 0, off, clen[4096];
	double t0, t1, t2;
	int rc = 0, k = 0;

	if (!c->boa_level && c->peer == PEER_ZPAQ)
		return bench_zpaq(c, data, len, back, row);
	t0 = now_s();
	if (c->boa_level) {
		size_t pos = 0;

		for (off = 0; off < len && !rc; off += chunk, k++) {
			size_t n = len - off < chunk ? len - off : chunk;

			if (k >= 4096)
				return -E2BIG;
			rc = boa_ctx_encode(ctx, m, c->boa_level, data + off, n, comp + pos,
			                    cap - pos, &clen[k]);
			pos += clen[k];
		}
		stored = pos;
	} else {
		rc = peer_compress(c, data, len, comp, cap, &stored);
	}
	t1 = now_s();
	if (rc)
		return rc;
	if (c->boa_level) {
		size_t pos = 0;

		k = 0;
		for (off = 0; off < len && !rc; off += chunk, k++) {
			size_t n = len - off < chunk ? len - off : chunk;

			rc = boa_ctx_decode(ctx, m, comp + pos, clen[k], back + off, n);
			pos += clen[k];
		}
	} else {
		rc = peer_decompress(c, comp, stored, back, len);
	}
	t2 = now_s();
	if (!rc && memcmp(back, data, len))
		rc = -EIO;
	if (rc)
		return rc;
	row->raw += len;
	row->stored += stored;
	row->ctime += t1 - t0;
	row->dtime += t2 - t1;
	return 0;
}

/* A file as boa compress stores a ROOT or gzip file (unwrap.h): the scan, then boa over the
 * unwrapped bytes; back, decoding them and re-creating every piece. Stored bytes count the
 * serialized plan; compress time counts the scan, decompress time the re-creation. */
static int bench_unwrapped(const struct bench_codec *c, struct boa_ctx *ctx,
                           const struct unwrap_plan *plan, const uint8_t *unwrapped, double scan_s,
                           const uint8_t *data, size_t len, uint32_t chunk, struct bench_row *row)
{
	struct bench_row r = {0};
	size_t ulen = (size_t)plan->unwrapped_len;
	size_t cap = ulen + ulen / 2 + (1 << 16) + (ulen / chunk + 1) * boa_bound(0);
	uint8_t *comp = malloc(cap), *uback = malloc(ulen + 1), *back = malloc(len + 1);
	double t0;
	int rc;

	if (!comp || !uback || !back) {
		rc = -ENOMEM;
		goto out;
	}
	rc = bench_one(c, ctx, c->model, unwrapped, ulen, chunk, comp, cap, uback, &r);
	if (rc)
		goto out;
	t0 = now_s();
	for (uint32_t i = 0; i < plan->n_pieces && !rc; i++) {
		const struct unwrap_piece *pc = &plan->pieces[i];

		rc = unwrap_regenerate(pc, uback + pc->unwrapped_off, back + pc->off);
	}
	if (!rc && memcmp(back, data, len))
		rc = -EIO;
	if (rc)
		goto out;
	row->raw += len;
	row->stored += r.stored + unwrap_plan_encoded_size(plan);
	row->ctime += r.ctime + scan_s;
	row->dtime += r.dtime + (now_s() - t0);
out:
	free(comp);
	free(uback);
	free(back);
	return rc;
}

static void bench_print_row(const char *file, const char *codec, const struct bench_row *r,
                            int json, int *first)
{
	double ratio = r->stored ? (double)r->raw / (double)r->stored : 0;
	double cs = r->ctime > 0 ? (double)r->raw / 1e6 / r->ctime : 0;
	double ds = r->dtime > 0 ? (double)r->raw / 1e6 / r->dtime : 0;

	if (json) {
		printf("%s\n    {\"file\": \"%s\", \"codec\": \"%s\", \"raw\": %llu, "
		       "\"stored\": %llu, \"ratio\": %.4f, \"compress_MBps\": %.3f, "
		       "\"decompress_MBps\": %.3f, \"ok\": %s}",
		       *first ? "" : ",", file, codec, (unsigned long long)r->raw,
		       (unsigned long long)r->stored, ratio, cs, ds, r->failed ? "false" : "true");
		*first = 0;
		return;
	}
	if (r->failed)
		printf("%-40s %-12s %s\n", file, codec, "FAILED");
	else
		printf("%-40s %-12s %10llu %10llu %8.3f %10.3f %10.3f\n", file, codec,
		       (unsigned long long)r->raw, (unsigned long long)r->stored, ratio, cs, ds);
}

static int bench_levels(const char *spec, int *levels)
{
	int n = 0;
	char *copy = strdup(spec), *save = NULL, *tok;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		long a = strtol(tok, &end, 10), b = a;

		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		if (*end || a < 1 || b > 9 || a > b) {
			free(copy);
			return -EINVAL;
		}
		for (long l = a; l <= b; l++)
			levels[n++] = (int)l;
		if (n > 9)
			break;
	}
	free(copy);
	return n;
}

int cmd_bench(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
	    {"json", no_argument, NULL, 'j'},     {"levels", required_argument, NULL, 'l'},
	    {"no-peers", no_argument, NULL, 'P'}, {"model", required_argument, NULL, 'm'},
	    {"help", no_argument, NULL, 'h'},     {NULL, 0, NULL, 0},
	};
	static const struct bench_codec peers[] = {
	    {"zstd-3", 0, PEER_ZSTD, 3, NULL, NULL, 0},
	    {"zstd-19", 0, PEER_ZSTD, 19, NULL, NULL, 0},
	    {"xz-9e", 0, PEER_XZ, 9, NULL, NULL, 0},
	    {"bzip2-9", 0, PEER_BZ2, 9, NULL, NULL, 0},
	    {"brotli-11", 0, PEER_BROTLI, 11, NULL, NULL, 0},
	};
	struct bench_codec codecs[9 + 9 + 6];
	struct bench_row totals[9 + 9 + 6];
	char names[9][8], unwrap_names[9][16];
	int levels[16], nlevels = 9, ncodecs = 0, json = 0, no_peers = 0, first = 1, opt, rc = 0;
	struct boa_model *m = NULL;
	struct boa_ctx *ctx = NULL;
	char *zpaq = NULL;

	for (int i = 0; i < 9; i++)
		levels[i] = i + 1;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "l:m:h", lopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = 1;
			break;
		case 'l':
			nlevels = bench_levels(optarg, levels);
			if (nlevels <= 0) {
				fail("bench: bad level list '%s' (e.g. 1,3-5)", optarg);
				return 2;
			}
			break;
		case 'P':
			no_peers = 1;
			break;
		case 'm':
			o->models.path = optarg;
			if (models_require_user(&o->models))
				return 1; /* a model the user named must load, used or not */
			break;
		case 'h':
			printf("usage: boa bench [--json] [-l LEVELS] [--no-peers] [-m MODEL] "
			       "FILES...\n");
			return 0;
		default:
			fail("bench: unknown option or missing value: %s (see boa bench --help)",
			     argv[optind - 1]);
			return 2;
		}
	}
	if (optind >= argc) {
		fail("bench: no files given");
		return 2;
	}
	for (int i = 0; i < nlevels; i++) {
		m = NULL;
		if (boa_level_uses_model(levels[i]) == 1 &&
		    models_for_level(&o->models, levels[i], &m)) {
			fail("bench: skipping level %d", levels[i]);
			continue;
		}
		snprintf(names[i], sizeof(names[i]), "boa-%d", levels[i]);
		codecs[ncodecs++] = (struct bench_codec){names[i], levels[i], 0, 0, m, NULL, 0};
		snprintf(unwrap_names[i], sizeof(unwrap_names[i]), "boa-%d-unwrap", levels[i]);
		codecs[ncodecs++] =
		    (struct bench_codec){unwrap_names[i], levels[i], 0, 0, m, NULL, 1};
	}
	for (size_t i = 0; !no_peers && i < sizeof(peers) / sizeof(peers[0]); i++)
		codecs[ncodecs++] = peers[i];
	if (!no_peers) {
		zpaq = path_find("zpaq");
		if (zpaq)
			codecs[ncodecs++] =
			    (struct bench_codec){"zpaq-m5", 0, PEER_ZPAQ, 5, NULL, zpaq, 0};
		else
			fail("bench: note: no zpaq in PATH, so no zpaq-m5 row");
	}
	memset(totals, 0, sizeof(totals));
	if (boa_ctx_new(&ctx)) {
		fail("out of memory");
		free(zpaq);
		return 1;
	}
	if (json)
		printf("{\"version\": \"%s\", \"results\": [", BOA_CLI_VERSION);
	else
		printf("%-40s %-12s %10s %10s %8s %10s %10s\n", "file", "codec", "raw", "stored",
		       "ratio", "comp MB/s", "dec MB/s");
	for (int f = optind; f < argc; f++) {
		FILE *in = fopen(argv[f], "rb");
		uint8_t *data = NULL, *comp = NULL, *back = NULL, *unwrapped = NULL;
		struct unwrap_plan *plan = NULL;
		struct bench_row row = {0};
		double scan_s = 0;
		int r = 0;
		size_t len, cap;
		const char *base = strrchr(argv[f], '/') ? strrchr(argv[f], '/') + 1 : argv[f];

		if (!in) {
			fail("cannot open %s: %s", argv[f], strerror(errno));
			rc = 1;
			continue;
		}
		fseek(in, 0, SEEK_END);
		len = (size_t)ftell(in);
		rewind(in);
		cap = len + len / 2 + (1 << 16) + ((len / BOAF_CHUNK_DEFAULT) + 1) * boa_bound(0);
		data = malloc(len + 1);
		comp = malloc(cap);
		back = malloc(len + 1);
		if (!data || !comp || !back || fread(data, 1, len, in) != len) {
			fail("cannot read %s", argv[f]);
			rc = 1;
			goto next;
		}
		/* As boa compress: a file with streams that re-create is coded unwrapped. */
		scan_s = now_s();
		/* 2 GiB of unwrapped bytes at most, as boa compress (cmd_codec.c). */
		if (unwrap_scan(data, len, &(struct unwrap_scan_opts){.max_unwrapped = 2ull << 30},
		                &plan) == 0 &&
		    plan->stats.streams_unwrapped > 0) {
			unwrapped = malloc(plan->unwrapped_len ? (size_t)plan->unwrapped_len : 1);
			if (unwrapped && unwrap_plan_unwrap(plan, data, len, unwrapped)) {
				free(unwrapped);
				unwrapped = NULL;
			}
		}
		scan_s = now_s() - scan_s;
		for (int c = 0; c < ncodecs; c++) {
			if (codecs[c].unwrap && !unwrapped) {
				/* Nothing to unwrap: boa compress stores the file as it is, as
				 * the row just before (the same level) measured it. */
				row.ctime += scan_s;
			} else if (codecs[c].unwrap) {
				row = (struct bench_row){0};
				r = bench_unwrapped(&codecs[c], ctx, plan, unwrapped, scan_s, data,
				                    len, BOAF_CHUNK_DEFAULT, &row);
			} else {
				row = (struct bench_row){0};
				r = bench_one(&codecs[c], ctx, codecs[c].model, data, len,
				              BOAF_CHUNK_DEFAULT, comp, cap, back, &row);
			}

			if (r) {
				row.failed = 1;
				totals[c].failed = 1;
				rc = 1;
			}
			totals[c].raw += row.raw;
			totals[c].stored += row.stored;
			totals[c].ctime += row.ctime;
			totals[c].dtime += row.dtime;
			bench_print_row(base, codecs[c].name, &row, json, &first);
			fflush(stdout);
		}
	next:
		fclose(in);
		unwrap_plan_free(plan);
		free(unwrapped);
		free(data);
		free(comp);
		free(back);
	}
	for (int c = 0; c < ncodecs; c++)
		bench_print_row("TOTAL", codecs[c].name, &totals[c], json, &first);
	if (json)
		printf("\n]}\n");
	boa_ctx_free(ctx);
	free(zpaq);
	return rc;
}
