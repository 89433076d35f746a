/* boa — the BOA coder on plain files: compress, decompress, bench, train.
 *
 * Owns: the `boa` command line, the .boa file container (below), threads over chunks, the
 * progress display, and the side-by-side benchmark against zstd, xz, bzip2, brotli and (when
 * its program is installed) zpaq.
 * Does not own: the chunk coder (boa.h), models and training (boa_model.h, boa_train.h), the
 * filesystem's own records (index/seg.h).
 * Errors: one line on stderr naming what failed, exit status 1 (2 for a usage error). A file
 * whose chunk does not verify is never written: output goes to a temporary file renamed into
 * place at the end (or, on stdout, stops before the bad chunk). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>
#include <zstd.h>
#include <lzma.h>
#include <bzlib.h>
#include <brotli/encode.h>
#include <brotli/decode.h>

#include "fs_admin.h"
#include "boa.h"
#include "boa_model.h"

#ifndef BOA_HAVE_MODEL
#define BOA_HAVE_MODEL 1
#endif
#if BOA_HAVE_MODEL && defined(__has_include)
#if __has_include("boa_train.h")
#include "boa_train.h"
#define BOA_HAVE_TRAIN 1
#endif
#endif
#ifndef BOA_HAVE_TRAIN
#define BOA_HAVE_TRAIN 0
#endif

#define BOA_CLI_VERSION "0.1.0"

/* The .boa container. All integers little-endian.
 *
 * File header, 16 bytes:
 *   0  4  magic "BOA\x1a"
 *   4  1  version (1)
 *   5  3  reserved, zero
 *   8  4  chunk size: raw bytes per chunk (every chunk but the last holds exactly this many)
 *  12  4  xxh32 (seed 0) of bytes 0..11
 * Then chunks, each a 24-byte header and a payload:
 *   0  4  raw length (1 .. chunk size)
 *   4  4  stored length: payload bytes
 *   8  1  level the chunk was coded at (0 = stored raw), as in its boa chunk header
 *   9  3  reserved, zero
 *  12  4  model id (0 when the level uses no model)
 *  16  8  xxh64 (seed 0) of the raw bytes
 *  24     payload: one boa chunk (boa.h), decoded on its own
 * End marker, a 24-byte chunk header with raw length 0 and stored length 0, whose model id field
 * holds the number of chunks and whose xxh64 field holds the total raw length; a file without it
 * is truncated. Nothing may follow it. */
#define BOAF_MAGIC         "BOA\x1a"
#define BOAF_VERSION       1
#define BOAF_HEADER        16
#define BOAF_CHUNK_HEADER  24
#define BOAF_CHUNK_DEFAULT ((uint32_t)4 << 20)
#define BOAF_CHUNK_MAX     ((uint32_t)256 << 20)

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void fail(const char *fmt, ...)
{
	va_list ap;

	fputs("boa: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ---- models ---- */

/* Models: -m FILE for every level that uses one, else the built-ins: "fast" for levels 2-3,
 * "default" for 4-9. A decoder takes whichever of them has the chunk's model id. */
struct models {
	const char *path; /* -m */
	struct boa_model *user, *builtin[2];
	int tried_user, tried_builtin[2];
};

static const char *const builtin_names[2] = {"default", "fast"};

#if BOA_HAVE_MODEL
static struct boa_model *models_user(struct models *ms)
{
	char err[256] = "";
	int rc;

	if (!ms->tried_user) {
		ms->tried_user = 1;
		rc = boa_model_load_file(ms->path, &ms->user, err, sizeof(err));
		if (rc) {
			fail("cannot load model %s: %s", ms->path, err[0] ? err : strerror(-rc));
			ms->user = NULL;
		}
	}
	return ms->user;
}

static struct boa_model *models_builtin(struct models *ms, int i)
{
	int rc;

	if (!ms->tried_builtin[i]) {
		ms->tried_builtin[i] = 1;
		rc = boa_model_load_builtin(builtin_names[i], &ms->builtin[i]);
		if (rc)
			ms->builtin[i] = NULL;
	}
	return ms->builtin[i];
}
#endif

/* Loads the -m model now: an unusable file the user named is an error even when no chunk
 * turns out to need it. */
static int models_require_user(struct models *ms)
{
#if BOA_HAVE_MODEL
	return models_user(ms) ? 0 : -EINVAL;
#else
	(void)ms;
	fail("this build has no Mamba model; -m cannot be used");
	return -ENOTSUP;
#endif
}

/* The model to code `level` with. */
static int models_for_level(struct models *ms, int level, struct boa_model **out)
{
#if BOA_HAVE_MODEL
	int i = level <= 3 ? 1 : 0;

	*out = ms->path ? models_user(ms) : models_builtin(ms, i);
	if (*out)
		return 0;
	if (!ms->path)
		fail("the built-in model '%s' is not available; levels 2-9 need it (or -m)",
		     builtin_names[i]);
	return -ENOENT;
#else
	(void)ms, (void)level, (void)out;
	fail("this build has no Mamba model; levels 2-9 need it (level 1 works)");
	return -ENOTSUP;
#endif
}

static uint32_t model_id(const struct boa_model *m);

/* The model whose id is `id`: -m's, or a built-in one. */
static int models_by_id(struct models *ms, uint32_t id, struct boa_model **out)
{
#if BOA_HAVE_MODEL
	if (ms->path && models_user(ms) && model_id(ms->user) == id) {
		*out = ms->user;
		return 0;
	}
	for (int i = 0; i < 2; i++) {
		if (models_builtin(ms, i) && model_id(ms->builtin[i]) == id) {
			*out = ms->builtin[i];
			return 0;
		}
	}
	return -ENOENT;
#else
	(void)ms, (void)id, (void)out;
	return -ENOTSUP;
#endif
}

static void models_free(struct models *ms)
{
#if BOA_HAVE_MODEL
	boa_model_free(ms->user);
	boa_model_free(ms->builtin[0]);
	boa_model_free(ms->builtin[1]);
#endif
	memset(ms, 0, sizeof(*ms));
}

static uint32_t model_id(const struct boa_model *m)
{
#if BOA_HAVE_MODEL
	return m ? boa_model_id(m) : 0;
#else
	(void)m;
	return 0;
#endif
}

/* ---- progress ---- */

struct progress {
	int on;
	uint64_t total, done;
	double start, last;
};

static void progress_init(struct progress *p, uint64_t total)
{
	p->on = isatty(STDERR_FILENO);
	p->total = total;
	p->done = 0;
	p->start = p->last = now_s();
}

static void progress_add(struct progress *p, uint64_t n)
{
	double t;
	char bar[31];
	int fill;

	p->done += n;
	if (!p->on)
		return;
	t = now_s();
	if (t - p->last < 0.1 && p->done != p->total)
		return;
	p->last = t;
	if (p->total) {
		fill = (int)(30.0 * (double)p->done / (double)p->total);
		fill = fill > 30 ? 30 : fill;
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(30 - fill));
		bar[30] = 0;
		fprintf(stderr, "\r[%s] %3d%% %.2f MB/s ", bar,
		        (int)(100.0 * (double)p->done / (double)p->total),
		        (double)p->done / 1e6 / (t - p->start + 1e-9));
	} else {
		fprintf(stderr, "\r%.1f MB %.2f MB/s ", (double)p->done / 1e6,
		        (double)p->done / 1e6 / (t - p->start + 1e-9));
	}
}

static void progress_end(struct progress *p)
{
	if (p->on)
		fputs("\r\033[K", stderr);
}

/* ---- files ---- */

struct out_file {
	FILE *f;
	char *final, *tmp; /* NULL for stdout */
};

static int out_open(struct out_file *o, const char *path, int force)
{
	struct stat st;
	int fd;

	memset(o, 0, sizeof(*o));
	if (!strcmp(path, "-")) {
		o->f = stdout;
		return 0;
	}
	if (!force && stat(path, &st) == 0) {
		fail("%s exists (use -f to overwrite)", path);
		return -EEXIST;
	}
	o->final = strdup(path);
	o->tmp = malloc(strlen(path) + 16);
	if (!o->final || !o->tmp)
		return -ENOMEM;
	sprintf(o->tmp, "%s.boa-XXXXXX", path);
	fd = mkstemp(o->tmp);
	if (fd < 0) {
		int rc = -errno;

		fail("cannot create %s: %s", o->tmp, strerror(errno));
		free(o->tmp);
		o->tmp = NULL;
		free(o->final);
		o->final = NULL;
		return rc;
	}
	{
		mode_t mask = umask(0);

		umask(mask);
		fchmod(fd, 0666 & ~mask);
	}
	o->f = fdopen(fd, "wb");
	if (!o->f) {
		close(fd);
		return -errno;
	}
	return 0;
}

static int out_write(struct out_file *o, const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, o->f) != n) {
		fail("write %s: %s", o->final ? o->final : "stdout", strerror(errno));
		return -EIO;
	}
	return 0;
}

/* Keeps the output only if `ok`. */
static int out_close(struct out_file *o, int ok)
{
	int rc = 0;

	if (o->f && o->f != stdout) {
		if (fflush(o->f) || fsync(fileno(o->f)))
			rc = -EIO;
		if (fclose(o->f))
			rc = -EIO;
		if (ok && !rc && rename(o->tmp, o->final)) {
			fail("rename to %s: %s", o->final, strerror(errno));
			rc = -EIO;
		}
		if (!ok || rc)
			unlink(o->tmp);
	} else if (o->f && fflush(o->f)) {
		rc = -EIO;
	}
	free(o->final);
	free(o->tmp);
	memset(o, 0, sizeof(*o));
	return rc;
}

static FILE *in_open(const char *path)
{
	FILE *f = !strcmp(path, "-") ? stdin : fopen(path, "rb");

	if (!f)
		fail("cannot open %s: %s", path, strerror(errno));
	return f;
}

static uint64_t in_size(FILE *f)
{
	struct stat st;

	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode))
		return (uint64_t)st.st_size;
	return 0;
}

/* ---- chunk jobs, run by threads ---- */

struct job {
	/* in */
	const struct boa_model *model;
	int level;
	int verify;
	uint8_t *raw;
	size_t raw_len;
	size_t in_len; /* bytes of the input this chunk came from, for progress */
	uint8_t *stored;
	size_t stored_len, stored_cap;
	uint32_t model_id;
	uint64_t hash;
	/* out */
	int rc;
	struct boa_ctx *ctx;
	uint8_t *check; /* --verify scratch */
};

static void *job_compress(void *arg)
{
	struct job *j = arg;
	int rc;

	j->hash = XXH64(j->raw, j->raw_len, 0);
	rc = boa_ctx_encode(j->ctx, j->model, j->level, j->raw, j->raw_len, j->stored,
	                    j->stored_cap, &j->stored_len);
	if (!rc && j->verify) {
		rc = boa_ctx_decode(j->ctx, j->model, j->stored, j->stored_len, j->check,
		                    j->raw_len);
		if (!rc && memcmp(j->check, j->raw, j->raw_len))
			rc = -EIO;
	}
	j->rc = rc;
	return NULL;
}

static void *job_decompress(void *arg)
{
	struct job *j = arg;
	int rc = boa_ctx_decode(j->ctx, j->model, j->stored, j->stored_len, j->raw, j->raw_len);

	if (!rc && XXH64(j->raw, j->raw_len, 0) != j->hash)
		rc = -EIO;
	j->rc = rc;
	return NULL;
}

/* Runs fn over jobs[0..n) on up to n threads (the first in this thread). */
static void jobs_run(struct job *jobs, int n, void *(*fn)(void *))
{
	pthread_t tid[64];
	int started[64] = {0};

	for (int i = 1; i < n; i++)
		started[i] = pthread_create(&tid[i], NULL, fn, &jobs[i]) == 0;
	if (n > 0)
		fn(&jobs[0]);
	for (int i = 1; i < n; i++) {
		if (started[i])
			pthread_join(tid[i], NULL);
		else
			fn(&jobs[i]);
	}
}

static void jobs_free(struct job *jobs, int n)
{
	for (int i = 0; i < n; i++) {
		free(jobs[i].raw);
		free(jobs[i].stored);
		free(jobs[i].check);
		boa_ctx_free(jobs[i].ctx);
	}
	free(jobs);
}

static struct job *jobs_new(int n, size_t chunk, int verify)
{
	struct job *jobs = calloc((size_t)n, sizeof(*jobs));

	if (!jobs)
		return NULL;
	for (int i = 0; i < n; i++) {
		jobs[i].raw = malloc(chunk ? chunk : 1);
		jobs[i].stored_cap = boa_bound(chunk);
		jobs[i].stored = malloc(jobs[i].stored_cap);
		jobs[i].check = verify ? malloc(chunk ? chunk : 1) : NULL;
		if (!jobs[i].raw || !jobs[i].stored || (verify && !jobs[i].check) ||
		    boa_ctx_new(&jobs[i].ctx)) {
			jobs_free(jobs, n);
			return NULL;
		}
	}
	return jobs;
}

/* ---- the chunk pipeline, shared by compress and decompress ---- */

struct opts {
	int level;
	int threads;
	int verify;
	int force;
	uint32_t chunk;
	struct models models;
};

struct chunk_pass;

/* One direction of the pipeline: how a chunk is read from the input, coded, and written. */
struct chunk_ops {
	/* Reads chunk `idx` into j and sets j->in_len; j->raw_len == 0 when there is no such
	 * chunk. Sets p->end once the input holds no more chunks. A failure is said on stderr. */
	int (*read)(struct chunk_pass *p, struct job *j, uint64_t idx);
	void *(*code)(void *job);
	/* Says on stderr that chunk `idx` failed to code; returns the error. */
	int (*failed)(struct chunk_pass *p, const struct job *j, uint64_t idx);
	int (*write)(struct chunk_pass *p, const struct job *j);
	/* After the last chunk: writes or checks the end marker. */
	int (*finish)(struct chunk_pass *p);
};

struct chunk_pass {
	const struct chunk_ops *ops;
	struct opts *o;
	const char *in_path;
	FILE *in;
	struct out_file *out;
	uint32_t chunk;                        /* raw bytes per chunk */
	struct boa_model *model;               /* compress: the one for o->level */
	uint8_t end_marker[BOAF_CHUNK_HEADER]; /* decompress: as read */
	int end;                               /* the input holds no more chunks */
	uint64_t total, nchunks;               /* raw bytes and chunks written so far */
};

/* Reads up to o->threads chunks at a time, codes them in parallel and writes them in input
 * order, with progress on a TTY, then finishes with the end marker. Stops at the first chunk
 * that cannot be read or coded, before writing it. */
static int chunks_run(struct chunk_pass *p, struct job *jobs)
{
	struct progress prog;
	int rc = 0;

	progress_init(&prog, in_size(p->in));
	while (!rc && !p->end) {
		int n = 0;

		while (n < p->o->threads && !p->end) {
			rc = p->ops->read(p, &jobs[n], p->nchunks + (uint64_t)n);
			if (rc)
				goto out;
			if (jobs[n].raw_len == 0)
				break;
			n++;
		}
		jobs_run(jobs, n, p->ops->code);
		for (int i = 0; i < n && !rc; i++) {
			struct job *j = &jobs[i];

			if (j->rc) {
				rc = p->ops->failed(p, j, p->nchunks);
				break;
			}
			rc = p->ops->write(p, j);
			p->total += j->raw_len;
			p->nchunks++;
			progress_add(&prog, j->in_len);
		}
	}
	if (!rc)
		rc = p->ops->finish(p);
out:
	progress_end(&prog);
	return rc;
}

/* ---- compress ---- */

static int compress_read(struct chunk_pass *p, struct job *j, uint64_t idx)
{
	j->raw_len = fread(j->raw, 1, p->chunk, p->in);
	if (j->raw_len < p->chunk) {
		if (ferror(p->in)) {
			fail("read %s: %s", p->in_path, strerror(errno));
			return -EIO;
		}
		p->end = 1;
	}
	j->in_len = j->raw_len;
	j->model = p->model;
	j->level = p->o->level;
	j->verify = p->o->verify;
	return 0;
}

static int compress_failed(struct chunk_pass *p, const struct job *j, uint64_t idx)
{
	fail("chunk %llu: %s%s", (unsigned long long)idx, strerror(-j->rc),
	     j->rc == -EIO ? " (verify failed)" : "");
	return j->rc;
}

static int compress_write(struct chunk_pass *p, const struct job *j)
{
	uint8_t ch[BOAF_CHUNK_HEADER];
	uint8_t level = j->stored[0] & 15;
	int rc;

	put32(ch, (uint32_t)j->raw_len);
	put32(ch + 4, (uint32_t)j->stored_len);
	ch[8] = level;
	ch[9] = ch[10] = ch[11] = 0;
	put32(ch + 12, level && boa_level_uses_model(level) == 1 ? model_id(p->model) : 0);
	put64(ch + 16, j->hash);
	rc = out_write(p->out, ch, sizeof(ch));
	if (!rc)
		rc = out_write(p->out, j->stored, j->stored_len);
	return rc;
}

static int compress_finish(struct chunk_pass *p)
{
	uint8_t ch[BOAF_CHUNK_HEADER] = {0};

	put32(ch + 12, (uint32_t)p->nchunks);
	put64(ch + 16, p->total);
	return out_write(p->out, ch, sizeof(ch));
}

static const struct chunk_ops compress_ops = {
    compress_read, job_compress, compress_failed, compress_write, compress_finish,
};

static int compress_file(struct opts *o, const char *in_path, const char *out_path)
{
	struct chunk_pass p = {.ops = &compress_ops, .o = o, .in_path = in_path, .chunk = o->chunk};
	struct out_file out = {0};
	struct job *jobs = NULL;
	uint8_t hdr[BOAF_HEADER];
	int rc = 0;

	if (boa_level_uses_model(o->level) == 1) {
		rc = models_for_level(&o->models, o->level, &p.model);
		if (rc)
			return 1;
	}
	p.in = in_open(in_path);
	if (!p.in)
		return 1;
	jobs = jobs_new(o->threads, o->chunk, o->verify);
	if (!jobs) {
		fail("out of memory");
		rc = -ENOMEM;
		goto out;
	}
	rc = out_open(&out, out_path, o->force);
	if (rc)
		goto out;
	p.out = &out;
	memcpy(hdr, BOAF_MAGIC, 4);
	hdr[4] = BOAF_VERSION;
	hdr[5] = hdr[6] = hdr[7] = 0;
	put32(hdr + 8, o->chunk);
	put32(hdr + 12, XXH32(hdr, 12, 0));
	rc = out_write(&out, hdr, sizeof(hdr));
	if (!rc)
		rc = chunks_run(&p, jobs);
out:
	if (out.f)
		rc = out_close(&out, rc == 0) ? (rc ? rc : -EIO) : rc;
	if (p.in != stdin)
		fclose(p.in);
	if (jobs)
		jobs_free(jobs, o->threads);
	return rc ? 1 : 0;
}

/* ---- decompress ---- */

static int read_exact(FILE *f, void *p, size_t n)
{
	return fread(p, 1, n, f) == n ? 0 : -EIO;
}

static int decompress_read(struct chunk_pass *p, struct job *j, uint64_t idx)
{
	uint8_t ch[BOAF_CHUNK_HEADER];
	int level;

	if (read_exact(p->in, ch, sizeof(ch))) {
		fail("%s: truncated before chunk %llu", p->in_path, (unsigned long long)idx);
		return -EIO;
	}
	j->raw_len = get32(ch);
	j->stored_len = get32(ch + 4);
	level = ch[8];
	j->model_id = get32(ch + 12);
	j->hash = get64(ch + 16);
	if (j->raw_len == 0 && j->stored_len == 0) { /* end marker, checked at the end */
		memcpy(p->end_marker, ch, sizeof(ch));
		p->end = 1;
		return 0;
	}
	if (j->raw_len == 0 || j->raw_len > p->chunk || j->stored_len > j->stored_cap ||
	    level > 9) {
		fail("%s: chunk %llu: corrupt chunk header", p->in_path, (unsigned long long)idx);
		return -EIO;
	}
	if (read_exact(p->in, j->stored, j->stored_len)) {
		fail("%s: truncated in chunk %llu", p->in_path, (unsigned long long)idx);
		return -EIO;
	}
	j->in_len = j->stored_len + BOAF_CHUNK_HEADER;
	j->model = NULL;
	if (level && boa_level_uses_model(level) == 1) {
		struct boa_model *m;

		if (models_by_id(&p->o->models, j->model_id, &m)) {
			fail("%s: chunk %llu was coded with model %08x, which is not built in%s "
			     "(give it with -m)",
			     p->in_path, (unsigned long long)idx, j->model_id,
			     p->o->models.path ? " nor the one given" : "");
			return -ENOENT;
		}
		j->model = m;
	}
	return 0;
}

static int decompress_failed(struct chunk_pass *p, const struct job *j, uint64_t idx)
{
	fail("%s: chunk %llu does not verify (%s); output not written", p->in_path,
	     (unsigned long long)idx, j->rc == -EIO ? "checksum mismatch" : strerror(-j->rc));
	return -EIO;
}

static int decompress_write(struct chunk_pass *p, const struct job *j)
{
	return out_write(p->out, j->raw, j->raw_len);
}

/* The end marker holds the chunk count and total length, and nothing may follow it. */
static int decompress_finish(struct chunk_pass *p)
{
	if (get32(p->end_marker + 12) != p->nchunks || get64(p->end_marker + 16) != p->total) {
		fail("%s: corrupt end marker (chunks or length do not match)", p->in_path);
		return -EIO;
	}
	if (fgetc(p->in) != EOF) {
		fail("%s: trailing bytes after the end marker", p->in_path);
		return -EIO;
	}
	return 0;
}

static const struct chunk_ops decompress_ops = {
    decompress_read, job_decompress, decompress_failed, decompress_write, decompress_finish,
};

static int decompress_file(struct opts *o, const char *in_path, const char *out_path)
{
	struct chunk_pass p = {.ops = &decompress_ops, .o = o, .in_path = in_path};
	struct out_file out = {0};
	struct job *jobs = NULL;
	uint8_t hdr[BOAF_HEADER];
	int rc = 0;

	p.in = in_open(in_path);
	if (!p.in)
		return 1;
	if (read_exact(p.in, hdr, sizeof(hdr)) || memcmp(hdr, BOAF_MAGIC, 4)) {
		fail("%s: not a boa file", in_path);
		rc = -EINVAL;
		goto out;
	}
	if (get32(hdr + 12) != XXH32(hdr, 12, 0) || hdr[4] != BOAF_VERSION) {
		fail("%s: %s", in_path,
		     hdr[4] != BOAF_VERSION ? "unknown version" : "corrupt file header");
		rc = -EINVAL;
		goto out;
	}
	p.chunk = get32(hdr + 8);
	if (p.chunk == 0 || p.chunk > BOAF_CHUNK_MAX) {
		fail("%s: corrupt file header (chunk size %u)", in_path, p.chunk);
		rc = -EINVAL;
		goto out;
	}
	jobs = jobs_new(o->threads, p.chunk, 0);
	if (!jobs) {
		fail("out of memory");
		rc = -ENOMEM;
		goto out;
	}
	rc = out_open(&out, out_path, o->force);
	if (rc)
		goto out;
	p.out = &out;
	rc = chunks_run(&p, jobs);
out:
	if (out.f)
		rc = out_close(&out, rc == 0) ? (rc ? rc : -EIO) : rc;
	if (p.in != stdin)
		fclose(p.in);
	if (jobs)
		jobs_free(jobs, o->threads);
	return rc ? 1 : 0;
}

/* ---- bench ---- */

struct bench_codec {
	const char *name;
	int boa_level; /* > 0: a boa level */
	int peer;      /* else: which peer */
	int arg;
	const struct boa_model *model; /* for boa levels that use one */
	const char *tool;              /* PEER_ZPAQ: the program's absolute path */
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

static int cmd_bench(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
	    {"json", no_argument, NULL, 'j'},     {"levels", required_argument, NULL, 'l'},
	    {"no-peers", no_argument, NULL, 'P'}, {"model", required_argument, NULL, 'm'},
	    {"help", no_argument, NULL, 'h'},     {NULL, 0, NULL, 0},
	};
	static const struct bench_codec peers[] = {
	    {"zstd-3", 0, PEER_ZSTD, 3, NULL, NULL},
	    {"zstd-19", 0, PEER_ZSTD, 19, NULL, NULL},
	    {"xz-9e", 0, PEER_XZ, 9, NULL, NULL},
	    {"bzip2-9", 0, PEER_BZ2, 9, NULL, NULL},
	    {"brotli-11", 0, PEER_BROTLI, 11, NULL, NULL},
	};
	struct bench_codec codecs[9 + 6];
	struct bench_row totals[9 + 6];
	char names[9][8];
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
		codecs[ncodecs++] = (struct bench_codec){names[i], levels[i], 0, 0, m, NULL};
	}
	for (size_t i = 0; !no_peers && i < sizeof(peers) / sizeof(peers[0]); i++)
		codecs[ncodecs++] = peers[i];
	if (!no_peers) {
		zpaq = path_find("zpaq");
		if (zpaq)
			codecs[ncodecs++] =
			    (struct bench_codec){"zpaq-m5", 0, PEER_ZPAQ, 5, NULL, zpaq};
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
		uint8_t *data = NULL, *comp = NULL, *back = NULL;
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
		for (int c = 0; c < ncodecs; c++) {
			struct bench_row row = {0};
			int r = bench_one(&codecs[c], ctx, codecs[c].model, data, len,
			                  BOAF_CHUNK_DEFAULT, comp, cap, back, &row);

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

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: boa compress [-1..-9] [-m MODEL] [-T N] [-B SIZE] [--verify] [-f] IN OUT\n"
	        "       boa decompress [-m MODEL] [-T N] [-f] IN OUT\n"
	        "       boa bench [--json] [-l LEVELS] [--no-peers] [-m MODEL] FILES...\n"
	        "       boa train FILES... -o MODEL [options]   (boa train --help)\n"
	        "       boa stats|fsck|gc|models ARCHIVE [options]   (archive commands)\n"
	        "       boa --help | --version\n"
	        "IN or OUT '-' is stdin or stdout. Level 1 needs no model; 2-9 mix in the Mamba\n"
	        "byte model (built-in 'fast' at 2-3, 'default' at 4-9, or -m MODEL).\n"
	        "Default level %d. See boa(1).\n",
	        BOA_LEVEL_DEFAULT);
}

static int parse_size(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (*end || v < 1 || v > BOAF_CHUNK_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int cmd_codec(int argc, char **argv, struct opts *o, int decompress)
{
	static const struct option lopts[] = {
	    {"verify", no_argument, NULL, 'V'},
	    {"force", no_argument, NULL, 'f'},
	    {"model", required_argument, NULL, 'm'},
	    {"threads", required_argument, NULL, 'T'},
	    {"chunk-size", required_argument, NULL, 'B'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "123456789m:T:B:fh", lopts, NULL)) != -1) {
		switch (opt) {
		case '1' ... '9':
			if (decompress) {
				fail("decompress takes no level");
				return 2;
			}
			o->level = opt - '0';
			break;
		case 'm':
			o->models.path = optarg;
			if (models_require_user(&o->models))
				return 1; /* a model the user named must load, used or not */
			break;
		case 'T': {
			char *end;
			long t = strtol(optarg, &end, 10);

			if (*end || t < 1 || t > 64) {
				fail("-T: threads must be 1..64");
				return 2;
			}
			o->threads = (int)t;
			break;
		}
		case 'B':
			if (parse_size(optarg, &o->chunk) || o->chunk > BOA_CHUNK_MAX) {
				fail("-B: chunk size must be 1..256M");
				return 2;
			}
			break;
		case 'V':
			o->verify = 1;
			break;
		case 'f':
			o->force = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return 2;
		}
	}
	if (argc - optind != 2) {
		fail("%s needs IN and OUT (see boa --help)", argv[0]);
		return 2;
	}
	return decompress ? decompress_file(o, argv[optind], argv[optind + 1])
	                  : compress_file(o, argv[optind], argv[optind + 1]);
}

int main(int argc, char **argv)
{
	struct opts o = {
	    .level = BOA_LEVEL_DEFAULT,
	    .threads = 1,
	    .chunk = BOAF_CHUNK_DEFAULT,
	};
	const char *cmd;
	int rc;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		printf("boa %s (chunk format 1, container format %d)\n", BOA_CLI_VERSION,
		       BOAF_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "compress") || !strcmp(cmd, "decompress")) {
		rc = cmd_codec(argc - 1, argv + 1, &o, cmd[0] == 'd');
	} else if (!strcmp(cmd, "bench")) {
		rc = cmd_bench(argc - 1, argv + 1, &o);
	} else if (!strcmp(cmd, "train")) {
#if BOA_HAVE_TRAIN
		return boa_train_cli(argc - 1, argv + 1);
#else
		fail("train: not available in this build");
		return 1;
#endif
	} else if (!strcmp(cmd, "stats") || !strcmp(cmd, "fsck") || !strcmp(cmd, "gc") ||
	           !strcmp(cmd, "models")) {
		/* Archive commands live with the file system (fs/fs_admin.c). */
		return fs_admin_main(argc - 1, argv + 1);
	} else {
		fail("unknown command '%s' (see boa --help)", cmd);
		return 2;
	}
	models_free(&o.models);
	return rc;
}
