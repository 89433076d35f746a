/* cmd_codec — `boa compress` and `boa decompress`: the .boa file container, threads over
 * chunks.
 * Errors: one line on stderr naming what failed, exit status 1 (2 for a usage error). A file
 * whose chunk does not verify is never written: output goes to a temporary file renamed into
 * place at the end (or, on stdout, stops before the bad chunk). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "prog.h"

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
#define BOAF_MAGIC        "BOA\x1a"
#define BOAF_VERSION      1
#define BOAF_HEADER       16
#define BOAF_CHUNK_HEADER 24
#define BOAF_CHUNK_MAX    ((uint32_t)256 << 20)

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

int cmd_codec(int argc, char **argv, struct opts *o, int decompress)
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
			boa_usage(stdout);
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
