/* exerciser — random file operations from several processes at once, every read checked against
 * an in-memory model of what the process wrote.
 *
 *   exerciser run DIR NPROC SECONDS SEED DUMPDIR
 *   exerciser check DIR NPROC DUMPDIR
 *
 * run: forks NPROC workers. Worker i owns DIR/p<i>/{a,b}/x0..x3 and, in the file DIR/shared that
 * all workers write at once, every NPROC-th stripe of STRIPE bytes from stripe i on (stripes do not
 * line up with blocks, so workers modify the same blocks concurrently). Operations: pwrite at
 * random offsets (random, compressible or all-zero bytes; holes), O_APPEND writes, ftruncate and
 * truncate(2), rename within the subtree (over existing files too), unlink, reads of random ranges,
 * whole-file checks through read and through mmap, fsync/fdatasync, close/reopen, stat, readdir.
 * Each read is compared with the model; the first difference stops the worker with the offset,
 * the bytes, and its last operations. At the end each worker checks everything once more and
 * writes its model to DUMPDIR (the files, and its stripes of the shared file).
 *
 * check: compares DIR with what `run` dumped to DUMPDIR (after a remount: what reached the
 * archive). Exit status: 0, or 1 on any difference or error. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NAMES       8            /* a/x0..a/x3, b/x0..b/x3 */
#define MAX_SIZE    (1536 << 10) /* largest file a worker makes */
#define MAX_IO      (256 << 10)
#define STRIPE      3001
#define STRIPES_PER 160 /* stripes each worker owns in the shared file */
#define HISTORY     24

static const char *const names[NAMES] = {"a/x0", "a/x1", "a/x2", "a/x3",
                                         "b/x0", "b/x1", "b/x2", "b/x3"};

struct mfile {
	int present;
	uint8_t *data; /* MAX_SIZE bytes; [0, size) is the file */
	uint64_t size;
	int fd; /* -1: not open */
	int append;
	int direct; /* opened with O_DIRECT: reads and writes bypass the page cache */
};

static char base[4096];
static int worker;
static char history[HISTORY][160];
static unsigned history_next;
static uint64_t rng_state, ops_done, bytes_checked;

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t rnd(void)
{
	rng_state += 0x9e3779b97f4a7c15ull;
	return splitmix(rng_state);
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void op_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(history[history_next++ % HISTORY], sizeof(history[0]), fmt, ap);
	va_end(ap);
}

static void __attribute__((noreturn)) fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "exerciser worker %d: FAIL: ", worker);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n  after %" PRIu64 " operations; the last ones, oldest first:\n",
	        ops_done);
	for (unsigned i = 0; i < HISTORY; i++) {
		const char *h = history[(history_next + i) % HISTORY];

		if (h[0])
			fprintf(stderr, "    %s\n", h);
	}
	exit(1);
}

static void path_of(int idx, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", base, names[idx]);
}

static void fill(uint8_t *buf, size_t len)
{
	uint64_t kind = rnd_below(10);

	if (kind < 2) {
		memset(buf, 0, len); /* all-zero blocks become holes */
	} else if (kind < 5) {
		uint8_t c = (uint8_t)rnd();

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)(c + (i / 97) % 7);
	} else {
		for (size_t i = 0; i < len; i += 8) {
			uint64_t r = rnd();

			memcpy(buf + i, &r, len - i < 8 ? len - i : 8);
		}
	}
}

static void compare(const char *what, const char *name, uint64_t off, const uint8_t *got,
                    const uint8_t *want, size_t len)
{
	if (!memcmp(got, want, len)) {
		bytes_checked += len;
		return;
	}
	for (size_t i = 0; i < len; i++)
		if (got[i] != want[i])
			fail("%s of %s: byte %" PRIu64 " is 0x%02x, the model has 0x%02x", what,
			     name, off + i, got[i], want[i]);
}

static void do_pread_full(int fd, uint8_t *buf, size_t len, uint64_t off, size_t *got,
                          const char *name)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("pread %s at %" PRIu64 " (%zu bytes): %s", name, off + done,
			     len - done, strerror(errno));
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*got = done;
}

static void do_pwrite_full(int fd, const uint8_t *buf, size_t len, uint64_t off, const char *name)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("pwrite %s at %" PRIu64 " (%zu bytes): %s", name, off + done,
			     len - done, n < 0 ? strerror(errno) : "wrote nothing");
		done += (size_t)n;
	}
}

static void file_open(struct mfile *f, int idx, int create)
{
	char path[4200];

	path_of(idx, path, sizeof(path));
	f->append = !create && rnd_below(4) == 0;
	f->direct = rnd_below(6) == 0;
	f->fd = open(path,
	             O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0) |
	                 (f->append ? O_APPEND : 0) | (f->direct ? O_DIRECT : 0),
	             0644);
	if (f->fd < 0)
		fail("open %s%s: %s", names[idx], create ? " (create)" : "", strerror(errno));
}

static void file_close(struct mfile *f, int idx)
{
	if (f->fd >= 0 && close(f->fd))
		fail("close %s: %s", names[idx], strerror(errno));
	f->fd = -1;
}

/* Half of the time, drops the file's cached pages first, so that the read reaches the daemon
 * rather than the kernel's page cache. */
static void maybe_drop_cache(struct mfile *f)
{
	if (rnd() & 1)
		posix_fadvise(f->fd, 0, 0, POSIX_FADV_DONTNEED);
}

/* The whole file through read(2), its size through fstat and stat. */
static void check_whole(struct mfile *f, int idx, uint8_t *buf)
{
	char path[4200];
	struct stat st;
	size_t got;

	if (f->fd < 0)
		file_open(f, idx, 0);
	if (fstat(f->fd, &st))
		fail("fstat %s: %s", names[idx], strerror(errno));
	if ((uint64_t)st.st_size != f->size)
		fail("fstat %s: size %" PRIu64 ", the model has %" PRIu64, names[idx],
		     (uint64_t)st.st_size, f->size);
	path_of(idx, path, sizeof(path));
	if (stat(path, &st))
		fail("stat %s: %s", names[idx], strerror(errno));
	if ((uint64_t)st.st_size != f->size)
		fail("stat %s: size %" PRIu64 ", the model has %" PRIu64, names[idx],
		     (uint64_t)st.st_size, f->size);
	maybe_drop_cache(f);
	do_pread_full(f->fd, buf, f->size + 1, 0, &got, names[idx]);
	if (got != f->size)
		fail("read %s: %zu bytes, the model has %" PRIu64, names[idx], got, f->size);
	compare("read", names[idx], 0, buf, f->data, got);
}

static void check_mmap(struct mfile *f, int idx)
{
	uint8_t *p;

	if (!f->size)
		return;
	if (f->fd < 0)
		file_open(f, idx, 0);
	p = mmap(NULL, f->size, PROT_READ, MAP_SHARED, f->fd, 0);
	if (p == MAP_FAILED)
		fail("mmap %s (%" PRIu64 " bytes): %s", names[idx], f->size, strerror(errno));
	compare("mmap read", names[idx], 0, p, f->data, f->size);
	munmap(p, f->size);
}

static void check_listing(struct mfile *files)
{
	for (int sub = 0; sub < 2; sub++) {
		char dir[4200];
		int seen[NAMES] = {0};
		struct dirent *e;
		DIR *d;

		snprintf(dir, sizeof(dir), "%s/%c", base, sub ? 'b' : 'a');
		d = opendir(dir);
		if (!d)
			fail("opendir %s: %s", dir, strerror(errno));
		while ((errno = 0, e = readdir(d))) {
			int found = -1;

			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			for (int i = sub * 4; i < sub * 4 + 4; i++)
				if (!strcmp(names[i] + 2, e->d_name))
					found = i;
			if (found < 0 || !files[found].present)
				fail("readdir %s: entry %s, which the model does not have", dir,
				     e->d_name);
			if (seen[found]++)
				fail("readdir %s: entry %s listed twice", dir, e->d_name);
		}
		if (errno)
			fail("readdir %s: %s", dir, strerror(errno));
		closedir(d);
		for (int i = sub * 4; i < sub * 4 + 4; i++)
			if (files[i].present && !seen[i])
				fail("readdir %s: %s missing", dir, names[i]);
	}
}

/* ---- the shared file: stripe k of STRIPE bytes belongs to worker k % nproc ---- */

struct shared {
	int fd;
	int nproc;
	uint8_t *mine; /* my stripes, back to back: STRIPES_PER * STRIPE bytes */
};

static uint64_t stripe_off(const struct shared *s, unsigned k)
{
	return ((uint64_t)k * (uint64_t)s->nproc + (uint64_t)worker) * STRIPE;
}

static void shared_write(struct shared *s, uint8_t *buf)
{
	unsigned k = (unsigned)rnd_below(STRIPES_PER);
	size_t in = (size_t)rnd_below(STRIPE), len = 1 + (size_t)rnd_below(STRIPE - in);

	fill(buf, len);
	op_note("shared write stripe %u +%zu len %zu", k, in, len);
	do_pwrite_full(s->fd, buf, len, stripe_off(s, k) + in, "shared");
	memcpy(s->mine + (size_t)k * STRIPE + in, buf, len);
}

static void shared_check(struct shared *s, uint8_t *buf, unsigned k)
{
	size_t got;

	do_pread_full(s->fd, buf, STRIPE, stripe_off(s, k), &got, "shared");
	/* Past the end of the file my stripe was never written: the model has zeros there. */
	memset(buf + got, 0, STRIPE - got);
	compare("read", "shared", stripe_off(s, k), buf, s->mine + (size_t)k * STRIPE, STRIPE);
}

/* ---- a worker ---- */

static int worker_main(const char *dir, int nproc, double seconds, uint64_t seed,
                       const char *dumpdir)
{
	struct mfile files[NAMES];
	struct shared sh = {.nproc = nproc};
	uint8_t *buf = malloc(MAX_SIZE + MAX_IO), *chk = malloc(MAX_SIZE + MAX_IO);
	char path[4200], path2[4200];
	struct timespec t0, t1;

	rng_state = seed * 1000003 + (uint64_t)worker;
	snprintf(base, sizeof(base), "%s/p%d", dir, worker);
	sh.mine = calloc(STRIPES_PER, STRIPE);
	if (!buf || !chk || !sh.mine)
		fail("out of memory");
	if (mkdir(base, 0755) && errno != EEXIST)
		fail("mkdir %s: %s", base, strerror(errno));
	snprintf(path, sizeof(path), "%s/a", base);
	snprintf(path2, sizeof(path2), "%s/b", base);
	if ((mkdir(path, 0755) && errno != EEXIST) || (mkdir(path2, 0755) && errno != EEXIST))
		fail("mkdir in %s: %s", base, strerror(errno));
	for (int i = 0; i < NAMES; i++) {
		files[i] = (struct mfile){0};
		files[i].fd = -1;
		files[i].data = calloc(1, MAX_SIZE);
		if (!files[i].data)
			fail("out of memory");
	}
	snprintf(path, sizeof(path), "%s/shared", dir);
	sh.fd = open(path, O_RDWR | O_CLOEXEC);
	if (sh.fd < 0)
		fail("open shared: %s", strerror(errno));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int idx = (int)rnd_below(NAMES);
		struct mfile *f = &files[idx];
		uint64_t op = rnd_below(1000), off, len;
		size_t got;

		if ((ops_done & 63) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			if ((double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9 >
			    seconds)
				break;
		}
		ops_done++;
		if (!f->present && op < 820) { /* these need a file: make it, or pick again */
			if (op >= 600)
				continue;
			op_note("create %s", names[idx]);
			file_open(f, idx, 1);
			f->present = 1;
			f->size = 0;
			memset(f->data, 0, MAX_SIZE);
			continue;
		}
		if (op < 280) { /* write */
			uint64_t where = rnd_below(10);

			len = 1 + rnd_below(MAX_IO);
			if (f->fd < 0)
				file_open(f, idx, 0);
			if (f->append || where < 2)
				off = f->size;
			else if (where < 9)
				off = rnd_below(f->size + 1);
			else
				off = rnd_below(MAX_SIZE);
			if (off + len > MAX_SIZE) {
				if (off >= MAX_SIZE)
					continue;
				len = MAX_SIZE - off;
			}
			if (f->append && f->size + len > MAX_SIZE)
				continue;
			fill(buf, (size_t)len);
			op_note("write %s%s%s at %" PRIu64 " len %" PRIu64 " (size %" PRIu64 ")",
			        names[idx], f->append ? " O_APPEND" : "",
			        f->direct ? " O_DIRECT" : "", off, len, f->size);
			/* With O_APPEND the kernel and the daemon pick the offset: the end. */
			do_pwrite_full(f->fd, buf, (size_t)len, off, names[idx]);
			memcpy(f->data + off, buf, (size_t)len);
			if (off + len > f->size)
				f->size = off + len;
		} else if (op < 430) { /* read a random range */
			if (f->fd < 0)
				file_open(f, idx, 0);
			off = rnd_below(f->size + 2000);
			len = 1 + rnd_below(300 << 10);
			op_note("read %s%s at %" PRIu64 " len %" PRIu64 " (size %" PRIu64 ")",
			        names[idx], f->direct ? " O_DIRECT" : "", off, len, f->size);
			maybe_drop_cache(f);
			do_pread_full(f->fd, buf, (size_t)len, off, &got, names[idx]);
			{
				uint64_t want = off >= f->size        ? 0
				                : f->size - off < len ? f->size - off
				                                      : len;

				if (got != want)
					fail("read %s at %" PRIu64 ": %zu bytes, the model has "
					     "%" PRIu64,
					     names[idx], off, got, want);
				compare("read", names[idx], off, buf, f->data + off, got);
			}
		} else if (op < 500) { /* truncate */
			uint64_t how = rnd_below(4), grow = rnd_below(100000), size;

			size = how == 0   ? 0
			       : how == 1 ? f->size / 2
			       : how == 2 ? rnd_below(MAX_SIZE + 1)
			                  : (f->size + grow <= MAX_SIZE ? f->size + grow : f->size);
			op_note("truncate %s to %" PRIu64 " (size %" PRIu64 ")", names[idx], size,
			        f->size);
			if (f->fd >= 0 && rnd() & 1) {
				if (ftruncate(f->fd, (off_t)size))
					fail("ftruncate %s to %" PRIu64 ": %s", names[idx], size,
					     strerror(errno));
			} else {
				path_of(idx, path, sizeof(path));
				if (truncate(path, (off_t)size))
					fail("truncate %s to %" PRIu64 ": %s", names[idx], size,
					     strerror(errno));
			}
			if (size < f->size)
				memset(f->data + size, 0, f->size - size);
			f->size = size;
		} else if (op < 560) { /* rename within the subtree */
			int to = (int)rnd_below(NAMES);
			struct mfile *g = &files[to];

			if (to == idx)
				continue;
			op_note("rename %s -> %s%s", names[idx], names[to],
			        g->present ? " (replacing)" : "");
			file_close(g, to); /* its inode goes away */
			path_of(idx, path, sizeof(path));
			path_of(to, path2, sizeof(path2));
			if (rename(path, path2))
				fail("rename %s %s: %s", names[idx], names[to], strerror(errno));
			{
				uint8_t *spare = g->data;

				*g = *f; /* an open fd follows the inode */
				*f = (struct mfile){0};
				f->fd = -1;
				f->data = spare;
			}
		} else if (op < 600) { /* unlink */
			op_note("unlink %s", names[idx]);
			file_close(f, idx);
			path_of(idx, path, sizeof(path));
			if (unlink(path))
				fail("unlink %s: %s", names[idx], strerror(errno));
			f->present = 0;
		} else if (op < 700) {
			op_note("check %s%s (size %" PRIu64 ")", names[idx],
			        f->direct ? " O_DIRECT" : "", f->size);
			check_whole(f, idx, chk);
		} else if (op < 730) {
			op_note("mmap check %s (size %" PRIu64 ")", names[idx], f->size);
			check_mmap(f, idx);
		} else if (op < 770) {
			if (f->fd < 0)
				continue;
			op_note("fsync %s", names[idx]);
			if (rnd() & 1 ? fsync(f->fd) : fdatasync(f->fd))
				fail("fsync %s: %s", names[idx], strerror(errno));
		} else if (op < 820) {
			op_note("reopen %s", names[idx]);
			file_close(f, idx);
			if (f->present)
				file_open(f, idx, 0);
		} else if (op < 850) {
			op_note("readdir");
			check_listing(files);
		} else if (op < 950) {
			shared_write(&sh, buf);
		} else {
			unsigned k = (unsigned)rnd_below(STRIPES_PER);

			op_note("shared check stripe %u", k);
			shared_check(&sh, buf, k);
		}
	}

	/* Everything once more, then the model to DUMPDIR for the check after a remount. */
	op_note("final check");
	check_listing(files);
	for (unsigned k = 0; k < STRIPES_PER; k++)
		shared_check(&sh, buf, k);
	for (int i = 0; i < NAMES; i++) {
		if (files[i].present) {
			check_whole(&files[i], i, chk);
			check_mmap(&files[i], i);
		}
		file_close(&files[i], i);
	}
	close(sh.fd);
	snprintf(path, sizeof(path), "%s/p%d", dumpdir, worker);
	if (mkdir(path, 0755) && errno != EEXIST)
		fail("mkdir %s: %s", path, strerror(errno));
	for (int i = 0; i < NAMES; i++) {
		FILE *out;

		if (!files[i].present)
			continue;
		snprintf(path, sizeof(path), "%s/p%d/%c%s", dumpdir, worker, names[i][0],
		         names[i] + 2);
		out = fopen(path, "wb");
		if (!out || fwrite(files[i].data, 1, files[i].size, out) != files[i].size ||
		    fclose(out))
			fail("dump %s: %s", path, strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/p%d/stripes", dumpdir, worker);
	{
		FILE *out = fopen(path, "wb");

		if (!out || fwrite(sh.mine, STRIPE, STRIPES_PER, out) != STRIPES_PER || fclose(out))
			fail("dump %s: %s", path, strerror(errno));
	}
	printf("exerciser worker %d: %" PRIu64 " operations, %" PRIu64 " bytes checked\n", worker,
	       ops_done, bytes_checked);
	for (int i = 0; i < NAMES; i++)
		free(files[i].data);
	free(sh.mine);
	free(buf);
	free(chk);
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	const char *dir, *dumpdir;
	char path[4200];
	int nproc, failed = 0, fd;
	double seconds;
	uint64_t seed;

	if (argc != 7) {
		fprintf(stderr, "usage: exerciser run DIR NPROC SECONDS SEED DUMPDIR\n");
		return 2;
	}
	dir = argv[2];
	nproc = atoi(argv[3]);
	seconds = atof(argv[4]);
	seed = strtoull(argv[5], NULL, 0);
	dumpdir = argv[6];
	if (nproc < 1 || nproc > 64) {
		fprintf(stderr, "exerciser: NPROC must be 1..64\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/shared", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || close(fd)) {
		fprintf(stderr, "exerciser: create %s: %s\n", path, strerror(errno));
		return 1;
	}
	fflush(stdout);
	for (int i = 0; i < nproc; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("exerciser: fork");
			return 1;
		}
		if (pid == 0) {
			worker = i;
			exit(worker_main(dir, nproc, seconds, seed, dumpdir));
		}
	}
	for (int i = 0; i < nproc; i++) {
		int status;

		if (wait(&status) < 0) {
			perror("exerciser: wait");
			return 1;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			failed++;
	}
	if (failed)
		fprintf(stderr, "exerciser: %d of %d workers failed\n", failed, nproc);
	return failed ? 1 : 0;
}

static int file_equals(const char *a, const char *b, uint64_t *bytes)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	static uint8_t ba[1 << 16], bb[1 << 16];
	uint64_t off = 0;
	int ok = 0;

	if (!fa || !fb) {
		printf("FAIL open %s: %s\n", fa ? b : a, strerror(errno));
		goto out;
	}
	for (;;) {
		size_t na = fread(ba, 1, sizeof(ba), fa), nb = fread(bb, 1, sizeof(bb), fb);

		if (ferror(fb)) {
			printf("FAIL read %s at %" PRIu64 ": %s\n", b, off, strerror(errno));
			goto out;
		}
		if (na != nb || memcmp(ba, bb, na)) {
			printf("FAIL %s differs from the model (%s) near byte %" PRIu64 "\n", b, a,
			       off);
			goto out;
		}
		off += na;
		if (!na)
			break;
	}
	*bytes += off;
	ok = 1;
out:
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	return ok;
}

static int cmd_check(int argc, char **argv)
{
	const char *dir, *dumpdir;
	char p1[4200], p2[4200];
	uint64_t bytes = 0, files = 0;
	int nproc, failures = 0, shared_fd;
	uint8_t *stripes = malloc((size_t)STRIPES_PER * STRIPE), *buf = malloc(STRIPE);

	if (argc != 5 || !stripes || !buf) {
		fprintf(stderr, "usage: exerciser check DIR NPROC DUMPDIR\n");
		return 2;
	}
	dir = argv[2];
	nproc = atoi(argv[3]);
	dumpdir = argv[4];
	snprintf(p1, sizeof(p1), "%s/shared", dir);
	shared_fd = open(p1, O_RDONLY | O_CLOEXEC);
	if (shared_fd < 0) {
		printf("FAIL open %s: %s\n", p1, strerror(errno));
		return 1;
	}
	for (worker = 0; worker < nproc; worker++) {
		for (int i = 0; i < NAMES; i++) {
			struct stat st;
			int in_model, on_mount;

			snprintf(p1, sizeof(p1), "%s/p%d/%c%s", dumpdir, worker, names[i][0],
			         names[i] + 2);
			snprintf(p2, sizeof(p2), "%s/p%d/%s", dir, worker, names[i]);
			in_model = stat(p1, &st) == 0;
			on_mount = lstat(p2, &st) == 0;
			if (in_model != on_mount) {
				printf("FAIL %s: %s\n", p2,
				       in_model ? "missing" : "exists, the model has no such file");
				failures++;
			} else if (in_model) {
				failures += !file_equals(p1, p2, &bytes);
				files++;
			}
		}
		snprintf(p1, sizeof(p1), "%s/p%d/stripes", dumpdir, worker);
		{
			FILE *f = fopen(p1, "rb");

			if (!f || fread(stripes, STRIPE, STRIPES_PER, f) != STRIPES_PER) {
				printf("FAIL read %s\n", p1);
				return 1;
			}
			fclose(f);
		}
		for (unsigned k = 0; k < STRIPES_PER; k++) {
			uint64_t off = ((uint64_t)k * (uint64_t)nproc + (uint64_t)worker) * STRIPE;
			ssize_t n = pread(shared_fd, buf, STRIPE, (off_t)off);

			if (n < 0) {
				printf("FAIL read shared at %" PRIu64 ": %s\n", off,
				       strerror(errno));
				failures++;
				break;
			}
			memset(buf + n, 0, STRIPE - (size_t)n);
			if (memcmp(buf, stripes + (size_t)k * STRIPE, STRIPE)) {
				printf("FAIL shared: stripe %u of worker %d (offset %" PRIu64
				       ") differs from the model\n",
				       k, worker, off);
				failures++;
				break;
			}
			bytes += STRIPE;
		}
	}
	close(shared_fd);
	printf("exerciser check: %" PRIu64 " files and the shared file, %" PRIu64
	       " bytes compared, %d failures\n",
	       files, bytes, failures);
	free(stripes);
	free(buf);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "run"))
		return cmd_run(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return cmd_check(argc, argv);
	fprintf(stderr, "usage: exerciser run|check ...\n");
	return 2;
}
