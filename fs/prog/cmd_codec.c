/* cmd_codec — `boa compress` and `boa decompress`, with zstd's command line (FILE -> FILE.boa
 * and back, -d -t -k --rm -c -o -f -q -v -V -T): the .boa file container, threads over chunks
 * (the output does not depend on their number), the summary line.
 * Signals: SIGINT, SIGTERM and SIGHUP remove the temporary output being written, then kill the
 * program as the signal would have.
 * Errors: one line on stderr naming what failed, exit status 1 (2 for a usage error). A file
 * whose chunk does not verify is never written: output goes to a temporary file renamed into
 * place at the end (or, on stdout, stops before the bad chunk). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "byteorder.h"
#include "prog.h"
#include "unwrap.h"

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
 * is truncated. Nothing may follow it.
 * Version 2, an unwrapped file (a ROOT file with zlib/LZ4 baskets, a gzip file; codec/unwrap.h):
 * the file header is followed by a 4-byte length and that many bytes of the file's serialized
 * plan (checksummed itself); the chunks hold the file's unwrapped bytes, from which decompress
 * re-creates the file piece by piece, each checked against the xxh64 recorded in the plan. */
#define BOAF_MAGIC             "BOA\x1a"
#define BOAF_VERSION           1
#define BOAF_VERSION_UNWRAPPED 2
#define BOAF_PLAN_MAX          ((uint32_t)256 << 20)
/* Files up to this size are read whole to be unwrapped; larger ones are coded as they are. */
#define BOAF_UNWRAP_MAX ((uint64_t)1 << 30)
/* ... and their unwrapped bytes, held in memory too, may reach this much; streams past it are
 * coded as they are (unwrap.h's own default, 64 times the file, is too much for memory). */
#define BOAF_UNWRAPPED_MAX ((uint64_t)2 << 30)
#define BOAF_HEADER        16
#define BOAF_CHUNK_HEADER  24
#define BOAF_CHUNK_MAX     ((uint32_t)256 << 20)

/* ---- files ---- */

/* The temporary output file being written, for the SIGINT/SIGTERM handler to remove (as zstd
 * and xz do). A signal handler sees nothing but globals: this is the one piece of global
 * mutable state of the program. Set and cleared with the signals blocked. */
static char *volatile out_cleanup_path;

static void on_interrupt(int sig)
{
	char *path = out_cleanup_path;

	if (path)
		unlink(path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void interrupt_handlers_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static void signals_block(int block, sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (block)
		pthread_sigmask(SIG_BLOCK, &set, old);
	else
		pthread_sigmask(SIG_SETMASK, old, NULL);
}

struct out_file {
	FILE *f;           /* NULL: output discarded (boa decompress -t) */
	char *final, *tmp; /* NULL for stdout */
	uint64_t bytes;    /* written so far */
};

/* Opens `path` for writing through a temporary file renamed into place by out_close; "-" is
 * stdout, NULL discards the output. */
static int out_open(struct out_file *o, const char *path, int force)
{
	struct stat st;
	sigset_t old;
	int fd;

	memset(o, 0, sizeof(*o));
	if (!path)
		return 0;
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
	signals_block(1, &old);
	fd = mkstemp(o->tmp);
	if (fd >= 0)
		out_cleanup_path = o->tmp;
	signals_block(0, &old);
	if (fd < 0) {
		int rc = -errno;

		fail("cannot create %s: %s", path, strerror(errno));
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
		int rc = -errno;

		close(fd);
		signals_block(1, &old);
		unlink(o->tmp);
		out_cleanup_path = NULL;
		signals_block(0, &old);
		return rc;
	}
	return 0;
}

static int out_write(struct out_file *o, const void *p, size_t n)
{
	o->bytes += n;
	if (o->f && n && fwrite(p, 1, n, o->f) != n) {
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
		sigset_t old;

		if (fflush(o->f) || fsync(fileno(o->f)))
			rc = -EIO;
		if (fclose(o->f))
			rc = -EIO;
		if (rc)
			fail("write %s: %s", o->final, strerror(errno));
		signals_block(1, &old);
		if (ok && !rc && rename(o->tmp, o->final)) {
			fail("rename to %s: %s", o->final, strerror(errno));
			rc = -EIO;
		}
		if (!ok || rc)
			unlink(o->tmp);
		out_cleanup_path = NULL;
		signals_block(0, &old);
	} else if (o->f && fflush(o->f)) {
		rc = -EIO;
	}
	free(o->final);
	free(o->tmp);
	o->f = NULL;
	o->final = o->tmp = NULL;
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
	uint64_t in_bytes;                     /* of the input, consumed so far */
	/* compress of an unwrapped file: its unwrapped bytes, read from here, not from `in`;
	 * progress counts file bytes (file_len in all) */
	const uint8_t *mem;
	uint64_t mem_len, mem_off, file_len;
	/* decompress of an unwrapped file: re-creates the file from the chunks' bytes */
	struct unwrap_writer *writer;
	struct unwrap_plan *plan;
};

/* What one file's pass did, for the summary line. */
struct file_result {
	uint64_t in_bytes, out_bytes;
	double seconds;
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
			p->in_bytes += j->in_len;
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
	if (p->mem) {
		uint64_t n =
		    p->mem_len - p->mem_off < p->chunk ? p->mem_len - p->mem_off : p->chunk;
		/* file bytes this chunk stands for, so that they add up to the file's length */
		uint64_t before = (uint64_t)((double)p->mem_off / p->mem_len * p->file_len);
		uint64_t after =
		    p->mem_off + n == p->mem_len
		        ? p->file_len
		        : (uint64_t)((double)(p->mem_off + n) / p->mem_len * p->file_len);

		memcpy(j->raw, p->mem + p->mem_off, n);
		p->mem_off += n;
		j->raw_len = n;
		j->in_len = after - before;
		p->end = p->mem_off == p->mem_len;
		j->model = p->model;
		j->level = p->o->level;
		j->verify = p->o->verify;
		return 0;
	}
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

	le32_put(ch, (uint32_t)j->raw_len);
	le32_put(ch + 4, (uint32_t)j->stored_len);
	ch[8] = level;
	ch[9] = ch[10] = ch[11] = 0;
	le32_put(ch + 12, level && boa_level_uses_model(level) == 1 ? model_id(p->model) : 0);
	le64_put(ch + 16, j->hash);
	rc = out_write(p->out, ch, sizeof(ch));
	if (!rc)
		rc = out_write(p->out, j->stored, j->stored_len);
	return rc;
}

static int compress_finish(struct chunk_pass *p)
{
	uint8_t ch[BOAF_CHUNK_HEADER] = {0};

	le32_put(ch + 12, (uint32_t)p->nchunks);
	le64_put(ch + 16, p->total);
	return out_write(p->out, ch, sizeof(ch));
}

static const struct chunk_ops compress_ops = {
    compress_read, job_compress, compress_failed, compress_write, compress_finish,
};

/* A regular file that starts like a ROOT or gzip file is read whole and scanned; when some of its
 * streams re-create (unwrap.h), returns 0 with *plan, *file and *unwrapped set (the caller frees
 * them), and the input positioned at its end. Otherwise 0 with *plan NULL and the input
 * rewound, to be coded as it is. */
static int unwrap_input(struct chunk_pass *p, struct unwrap_plan **plan, uint8_t **file,
                        uint8_t **unwrapped)
{
	struct stat st;
	uint8_t magic[4] = {0};
	uint8_t *data = NULL, *u = NULL;
	struct unwrap_plan *pl = NULL;
	int rc = 0;

	*plan = NULL;
	*file = *unwrapped = NULL;
	if (p->in == stdin || fstat(fileno(p->in), &st) || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > BOAF_UNWRAP_MAX || st.st_size < 4)
		return 0;
	if (fread(magic, 1, 4, p->in) != 4 ||
	    (memcmp(magic, "root", 4) && !(magic[0] == 0x1f && magic[1] == 0x8b)))
		goto rewind;
	data = malloc((size_t)st.st_size);
	if (!data)
		goto rewind; /* not worth failing for: code the file as it is */
	rewind(p->in);
	if (fread(data, 1, (size_t)st.st_size, p->in) != (size_t)st.st_size) {
		fail("read %s: %s", p->in_path, strerror(errno));
		rc = -EIO;
		goto out;
	}
	rc = unwrap_scan(data, (size_t)st.st_size,
	                 &(struct unwrap_scan_opts){.max_unwrapped = BOAF_UNWRAPPED_MAX}, &pl);
	if (rc == -ENOMEM || (!rc && pl->stats.streams_unwrapped == 0)) {
		rc = 0;
		goto rewind;
	}
	if (rc) {
		fail("%s: unwrap: %s", p->in_path, strerror(-rc));
		goto out;
	}
	u = malloc(pl->unwrapped_len ? (size_t)pl->unwrapped_len : 1);
	if (!u || unwrap_plan_unwrap(pl, data, (size_t)st.st_size, u))
		goto rewind;
	if (p->o->verbosity >= 2)
		fprintf(stderr,
		        "%s: unwrapped %u of %u compressed streams (%.1f%% of the bytes) into %llu "
		        "bytes\n",
		        p->in_path, pl->stats.streams_unwrapped, pl->stats.streams,
		        100.0 * (double)pl->stats.bytes_unwrapped / (double)st.st_size,
		        (unsigned long long)pl->unwrapped_len);
	*plan = pl;
	*file = data;
	*unwrapped = u;
	return 0;
rewind:
	rewind(p->in);
out:
	unwrap_plan_free(pl);
	free(data);
	free(u);
	return rc;
}

static int compress_file(struct opts *o, const char *in_path, const char *out_path,
                         struct file_result *res)
{
	struct unwrap_plan *plan = NULL;
	uint8_t *file = NULL, *unwrapped = NULL, *plan_bytes = NULL;
	size_t plan_len = 0;
	double t0 = now_s();
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
	if (!o->no_unwrap) {
		rc = unwrap_input(&p, &plan, &file, &unwrapped);
		if (rc)
			goto out;
	}
	if (plan) {
		plan_len = unwrap_plan_encoded_size(plan);
		plan_bytes = plan_len <= BOAF_PLAN_MAX ? malloc(plan_len) : NULL;
		if (!plan_bytes || unwrap_plan_encode(plan, plan_bytes, plan_len, &plan_len)) {
			fail("%s: unwrap: plan too large or out of memory", in_path);
			rc = -ENOMEM;
			goto out;
		}
		p.mem = unwrapped;
		p.mem_len = plan->unwrapped_len;
		p.file_len = plan->file_len;
	}
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
	hdr[4] = plan ? BOAF_VERSION_UNWRAPPED : BOAF_VERSION;
	hdr[5] = hdr[6] = hdr[7] = 0;
	le32_put(hdr + 8, o->chunk);
	le32_put(hdr + 12, XXH32(hdr, 12, 0));
	rc = out_write(&out, hdr, sizeof(hdr));
	if (!rc && plan) {
		uint8_t n[4];

		le32_put(n, (uint32_t)plan_len);
		rc = out_write(&out, n, 4);
		if (!rc)
			rc = out_write(&out, plan_bytes, plan_len);
	}
	if (!rc)
		rc = chunks_run(&p, jobs);
	res->in_bytes = p.in_bytes;
	res->out_bytes = out.bytes;
out:
	if (out.f)
		rc = out_close(&out, rc == 0) ? (rc ? rc : -EIO) : rc;
	if (p.in != stdin)
		fclose(p.in);
	if (jobs)
		jobs_free(jobs, o->threads);
	unwrap_plan_free(plan);
	free(file);
	free(unwrapped);
	free(plan_bytes);
	res->seconds = now_s() - t0;
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
	j->raw_len = le32_get(ch);
	j->stored_len = le32_get(ch + 4);
	level = ch[8];
	j->model_id = le32_get(ch + 12);
	j->hash = le64_get(ch + 16);
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
	/* by the model id the chunk header names, not by the level: a level's meaning depends on
	 * the format version of the boa chunk (boa.h), and files of every version are read */
	if (level && j->model_id) {
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

static int writer_out(void *arg, const uint8_t *buf, size_t len)
{
	return out_write(arg, buf, len);
}

/* Says which piece of an unwrapped file did not re-create. */
static int writer_failed(struct chunk_pass *p, const struct unwrap_plan *plan, int rc)
{
	uint32_t i = unwrap_writer_piece(p->writer);
	char recipe[128] = "";

	if (rc != -EIO)
		return rc; /* out_write said it */
	if (i < plan->n_pieces)
		unwrap_recipe_str(&plan->pieces[i].recipe, recipe, sizeof(recipe));
	fail("%s: piece %u at offset %llu (%s) does not re-create the original bytes; output not "
	     "written",
	     p->in_path, i, i < plan->n_pieces ? (unsigned long long)plan->pieces[i].off : 0ULL,
	     recipe[0] ? recipe : "no such piece");
	return -EIO;
}

static int decompress_write(struct chunk_pass *p, const struct job *j)
{
	int rc;

	if (!p->writer)
		return out_write(p->out, j->raw, j->raw_len);
	rc = unwrap_writer_put(p->writer, j->raw, j->raw_len);
	return rc ? writer_failed(p, p->plan, rc) : 0;
}

/* The end marker holds the chunk count and total length, and nothing may follow it. */
static int decompress_finish(struct chunk_pass *p)
{
	if (le32_get(p->end_marker + 12) != p->nchunks ||
	    le64_get(p->end_marker + 16) != p->total) {
		fail("%s: corrupt end marker (chunks or length do not match)", p->in_path);
		return -EIO;
	}
	if (fgetc(p->in) != EOF) {
		fail("%s: trailing bytes after the end marker", p->in_path);
		return -EIO;
	}
	if (p->writer) {
		int rc = unwrap_writer_finish(p->writer);

		if (rc)
			return writer_failed(p, p->plan, rc);
	}
	return 0;
}

static const struct chunk_ops decompress_ops = {
    decompress_read, job_decompress, decompress_failed, decompress_write, decompress_finish,
};

/* Reads the plan of an unwrapped file (version 2) and checks that this program's compression
 * libraries re-create what the plan's did. */
static int decompress_plan_read(struct chunk_pass *p, struct file_result *res)
{
	uint8_t n[4], *buf = NULL;
	char msg[256] = "";
	uint32_t len;
	int rc;

	if (read_exact(p->in, n, 4)) {
		fail("%s: truncated in the unwrap plan", p->in_path);
		return -EIO;
	}
	len = le32_get(n);
	buf = len <= BOAF_PLAN_MAX ? malloc(len ? len : 1) : NULL;
	if (!buf) {
		fail("%s: corrupt unwrap plan (length %u)", p->in_path, len);
		return -EIO;
	}
	if (read_exact(p->in, buf, len)) {
		fail("%s: truncated in the unwrap plan", p->in_path);
		rc = -EIO;
		goto out;
	}
	res->in_bytes += 4 + (uint64_t)len;
	rc = unwrap_plan_decode(buf, len, &p->plan);
	if (rc) {
		fail("%s: %s unwrap plan", p->in_path,
		     rc == -EPROTO ? "a newer program's" : "corrupt");
		rc = -EIO;
		goto out;
	}
	rc = unwrap_canary_check(p->plan, msg, sizeof(msg));
	if (rc) {
		fail("%s: %s", p->in_path, rc == -ENOTSUP ? msg : strerror(-rc));
		goto out;
	}
out:
	free(buf);
	return rc;
}

static int decompress_file(struct opts *o, const char *in_path, const char *out_path,
                           struct file_result *res)
{
	double t0 = now_s();
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
	if (le32_get(hdr + 12) != XXH32(hdr, 12, 0) ||
	    (hdr[4] != BOAF_VERSION && hdr[4] != BOAF_VERSION_UNWRAPPED)) {
		fail("%s: %s", in_path,
		     le32_get(hdr + 12) == XXH32(hdr, 12, 0) ? "unknown version"
		                                             : "corrupt file header");
		rc = -EINVAL;
		goto out;
	}
	if (hdr[4] == BOAF_VERSION_UNWRAPPED) {
		rc = decompress_plan_read(&p, res);
		if (rc)
			goto out;
	}
	p.chunk = le32_get(hdr + 8);
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
	if (p.plan) {
		rc = unwrap_writer_new(p.plan, writer_out, &out, &p.writer);
		if (rc) {
			fail("out of memory");
			goto out;
		}
	}
	rc = chunks_run(&p, jobs);
	res->in_bytes += p.in_bytes + BOAF_HEADER + BOAF_CHUNK_HEADER;
	res->out_bytes = out.bytes;
out:
	unwrap_writer_free(p.writer);
	unwrap_plan_free(p.plan);
	if (out.f)
		rc = out_close(&out, rc == 0) ? (rc ? rc : -EIO) : rc;
	if (p.in != stdin)
		fclose(p.in);
	if (jobs)
		jobs_free(jobs, o->threads);
	res->seconds = now_s() - t0;
	return rc ? 1 : 0;
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

static const char codec_usage[] =
    "usage: boa compress [-1..-9] [-d] [-k|--rm] [-c|-o OUT] [-f] [-q|-v] [-T N] [FILE...]\n"
    "       boa decompress [-t] [-k|--rm] [-c|-o OUT] [-f] [-q|-v] [-T N] [FILE...]\n"
    "       boa compress [options] IN OUT.boa      boa decompress [options] IN OUT\n"
    "  -1..-9          level (default %d); 1-4 need no model, 5-9 mix in the Mamba model\n"
    "  -d, --decompress  decompress (boa compress -d is boa decompress)\n"
    "  -z, --compress  compress\n"
    "  -t, --test      decompress and verify every chunk, write nothing\n"
    "  -k, --keep      keep the input files (the default)\n"
    "      --rm        remove each input file once its output is complete\n"
    "  -c, --stdout    write to standard output\n"
    "  -o, --output OUT  write to OUT (one input only)\n"
    "  -f, --force     overwrite outputs; write compressed data to a terminal\n"
    "  -q, --quiet     no summary lines or progress; errors only\n"
    "  -v, --verbose   also say the settings used for each file\n"
    "  -V, --version   version\n"
    "  -T, --threads N   code N chunks at once (0: one per CPU; default 1); the output\n"
    "                  is the same bytes whatever N\n"
    "  -B, --chunk-size SIZE  raw bytes per chunk, e.g. 1M (default 4M)\n"
    "  -m, --model FILE  the Mamba model for levels 5-9 (default: built-in)\n"
    "      --verify    decode every chunk after coding it, before writing it\n"
    "      --no-unwrap  code ROOT and gzip files as they are (by default their zlib/LZ4\n"
    "                  streams that re-create exactly are stored decompressed)\n"
    "FILE becomes FILE.boa and FILE.boa becomes FILE. With no FILE, or FILE '-',\n"
    "standard input is coded to standard output (neither a terminal, unless -f). Two\n"
    "operands are IN OUT when OUT is what a FILE could not be: a name ending in .boa for\n"
    "compress, one not ending in it for decompress, or '-' on either side.\n"
    "Interrupted, boa removes its partial output.\n";

static int has_boa_suffix(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && !strcmp(name + n - 4, ".boa");
}

/* The output name of `in` when none is given: FILE -> FILE.boa, FILE.boa -> FILE; NULL (and a
 * message) when `in` has not the suffix that decompress needs or already has the one compress
 * adds. */
static char *default_output(const char *in, int decompress)
{
	size_t n = strlen(in);
	char *out;

	if (decompress) {
		if (n <= 4 || strcmp(in + n - 4, ".boa")) {
			fail("%s: unknown suffix (expected .boa) -- ignored", in);
			return NULL;
		}
		out = strndup(in, n - 4);
	} else {
		if (n > 4 && !strcmp(in + n - 4, ".boa")) {
			fail("%s: already has the .boa suffix -- ignored", in);
			return NULL;
		}
		if (asprintf(&out, "%s.boa", in) < 0)
			out = NULL;
	}
	if (!out)
		fail("out of memory");
	return out;
}

static void size_text(char *buf, size_t cap, uint64_t bytes)
{
	if (bytes < 10000)
		snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
	else if (bytes < 10000000)
		snprintf(buf, cap, "%.1f KB", bytes / 1e3);
	else
		snprintf(buf, cap, "%.1f MB", bytes / 1e6);
}

/* One line on stderr after each file, as zstd's: sizes, ratio, speed (over raw bytes). */
static void summary(const char *in, const char *out, int decompress, int test,
                    const struct file_result *r)
{
	char a[32], b[32];
	uint64_t raw = decompress ? r->out_bytes : r->in_bytes;
	uint64_t packed = decompress ? r->in_bytes : r->out_bytes;
	double mbs = r->seconds > 0 ? raw / 1e6 / r->seconds : 0;

	size_text(a, sizeof(a), raw);
	size_text(b, sizeof(b), packed);
	if (test)
		fprintf(stderr, "%s: OK, %s holds %s (%.3fx), %.2f MB/s\n", in, b, a,
		        packed ? (double)raw / packed : 0, mbs);
	else if (decompress)
		fprintf(stderr, "%s: %s => %s (%.3fx), %.2f MB/s, %s\n", in, b, a,
		        packed ? (double)raw / packed : 0, mbs, out);
	else
		fprintf(stderr, "%s: %s => %s (%.3fx, %.2f%%), %.2f MB/s, %s\n", in, a, b,
		        packed ? (double)raw / packed : 0, raw ? 100.0 * packed / raw : 0, mbs,
		        out);
}

struct run {
	int decompress, test, to_stdout, remove_input;
	const char *output; /* -o, or the OUT of the IN OUT form */
};

/* Codes one input; returns 0 or 1. */
static int code_one(struct opts *o, const struct run *r, const char *in)
{
	struct file_result res = {0};
	const char *out;
	char *named = NULL;
	int rc;

	if (r->test)
		out = NULL;
	else if (r->output)
		out = r->output;
	else if (r->to_stdout || !strcmp(in, "-"))
		out = "-";
	else if (!(out = named = default_output(in, r->decompress)))
		return 1;
	if (!strcmp(in, "-") && !o->force && isatty(STDIN_FILENO)) {
		if (r->decompress)
			fail("standard input is a terminal: not reading compressed data from it "
			     "(name a FILE, or pipe it in)");
		else
			fail("standard input is a terminal: nothing to compress (name a FILE, pipe "
			     "data in, or -f to read the terminal)");
		free(named);
		return 1;
	}
	if (out && !strcmp(out, "-") && !r->decompress && !o->force && isatty(STDOUT_FILENO)) {
		fail("%s: not writing compressed data to a terminal (use -f, or -o FILE)", in);
		free(named);
		return 1;
	}
	if (o->verbosity >= 2) {
		if (r->decompress)
			fprintf(stderr, "%s: %s, %d thread%s\n", in,
			        r->test ? "testing" : "decompressing", o->threads,
			        o->threads == 1 ? "" : "s");
		else
			fprintf(stderr, "%s: level %d, %u-byte chunks, %d thread%s%s\n", in,
			        o->level, o->chunk, o->threads, o->threads == 1 ? "" : "s",
			        o->verify ? ", verified" : "");
	}
	rc = r->decompress ? decompress_file(o, in, out, &res) : compress_file(o, in, out, &res);
	if (!rc && o->verbosity >= 1)
		summary(strcmp(in, "-") ? in : "stdin", out && strcmp(out, "-") ? out : "stdout",
		        r->decompress, r->test, &res);
	if (!rc && r->remove_input && !r->test && strcmp(in, "-") && out && strcmp(out, "-") &&
	    unlink(in)) {
		fail("cannot remove %s: %s", in, strerror(errno));
		rc = 1;
	}
	free(named);
	return rc;
}

int cmd_codec(int argc, char **argv, struct opts *o, int decompress)
{
	enum { O_VERIFY = 256, O_RM, O_NO_UNWRAP };
	static const struct option lopts[] = {
	    {"decompress", no_argument, NULL, 'd'},
	    {"uncompress", no_argument, NULL, 'd'},
	    {"compress", no_argument, NULL, 'z'},
	    {"test", no_argument, NULL, 't'},
	    {"keep", no_argument, NULL, 'k'},
	    {"rm", no_argument, NULL, O_RM},
	    {"stdout", no_argument, NULL, 'c'},
	    {"output", required_argument, NULL, 'o'},
	    {"force", no_argument, NULL, 'f'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"version", no_argument, NULL, 'V'},
	    {"verify", no_argument, NULL, O_VERIFY},
	    {"model", required_argument, NULL, 'm'},
	    {"threads", required_argument, NULL, 'T'},
	    {"chunk-size", required_argument, NULL, 'B'},
	    {"help", no_argument, NULL, 'h'},
	    {"no-unwrap", no_argument, NULL, O_NO_UNWRAP},
	    {NULL, 0, NULL, 0},
	};
	struct run r = {.decompress = decompress};
	int opt, level_given = 0, status = 0, nin;

	o->verbosity = 1;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":123456789dztkcfqvVm:T:B:o:h", lopts, NULL)) != -1) {
		switch (opt) {
		case '1' ... '9':
			o->level = opt - '0';
			level_given = 1;
			break;
		case 'd':
			r.decompress = 1;
			break;
		case 'z':
			r.decompress = 0;
			break;
		case 't':
			r.decompress = r.test = 1;
			break;
		case 'k':
			r.remove_input = 0;
			break;
		case O_RM:
			r.remove_input = 1;
			break;
		case 'c':
			r.to_stdout = 1;
			break;
		case 'o':
			r.output = optarg;
			break;
		case 'f':
			o->force = 1;
			break;
		case 'q':
			o->verbosity = 0;
			break;
		case 'v':
			o->verbosity = 2;
			break;
		case 'V':
			printf("boa %s (chunk format %d, container format %d)\n", BOA_CLI_VERSION,
			       BOA_CHUNK_VERSION, BOAF_VERSION);
			return 0;
		case 'm':
			o->models.path = optarg;
			if (models_require_user(&o->models))
				return 1; /* a model the user named must load, used or not */
			break;
		case 'T': {
			char *end;
			long t = strtol(optarg, &end, 10);

			if (!*optarg || *end || t < 0 || t > 64) {
				fail("-T: threads must be 0 (one per CPU) or 1..64");
				return 2;
			}
			if (t == 0) {
				long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

				t = ncpu < 1 ? 1 : ncpu > 64 ? 64 : ncpu;
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
		case O_VERIFY:
			o->verify = 1;
			break;
		case O_NO_UNWRAP:
			o->no_unwrap = 1;
			break;
		case 'h':
			printf(codec_usage, BOA_LEVEL_DEFAULT);
			return 0;
		case ':':
			fail("%s: option %s needs a value (see boa %s --help)", argv[0],
			     argv[optind - 1], argv[0]);
			return 2;
		default:
			fail("%s: unknown option %s (see boa %s --help)", argv[0], argv[optind - 1],
			     argv[0]);
			return 2;
		}
	}
	if (r.decompress && level_given) {
		fail("decompress takes no level");
		return 2;
	}
	nin = argc - optind;
	/* The IN OUT form of earlier versions: exactly two operands, no -o, -c or -t, and an OUT
	 * that two FILEs could not be (zstd would refuse it as a FILE): compress to a name ending
	 * in .boa, decompress to one that does not, or '-' on either side. Two FILEs are never
	 * taken for IN OUT, so that -f cannot overwrite a file meant as an input. */
	if (nin == 2 && !r.output && !r.to_stdout && !r.test) {
		const char *in = argv[optind], *out = argv[optind + 1];

		if (!strcmp(in, "-") || !strcmp(out, "-") || has_boa_suffix(out) != r.decompress) {
			r.output = out;
			nin = 1;
		}
	}
	if (r.output && nin > 1) {
		fail("-o names one output, but %d inputs were given", nin);
		return 2;
	}
	if (r.output && r.to_stdout) {
		fail("-o and -c both name the output");
		return 2;
	}
	interrupt_handlers_install();
	/* No FILE: standard input to standard output (or -o), as zstd does; code_one refuses a
	 * terminal on either side without -f. */
	if (nin == 0)
		return code_one(o, &r, "-");
	for (int i = 0; i < nin; i++)
		status |= code_one(o, &r, argv[optind + i]);
	return status;
}
