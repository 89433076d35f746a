/* pread_check — random reads (and writes) on a file in a boafs mount, checked against the same
 * operations on a reference copy on a plain file system.
 *
 * usage: pread_check [-n OPS] [-s SEED] [-m MAXLEN] [-b BLOCK] [-w] [-d] FILE REFERENCE
 *   OPS (default 1000) preads at random offsets with random lengths 1..MAXLEN (default 300000)
 *   from both files; byte counts and bytes must match. A quarter of the offsets fall within a few
 *   bytes of a multiple of BLOCK (default 131072), and some lie past the end of the file.
 *   -w  first OPS pwrites of the same random bytes to both files at random offsets up to 1.25x
 *       the size (so some writes extend the file and leave holes), then the reads.
 *   -d  open FILE with O_DIRECT: the reads reach the daemon instead of the page cache.
 * After the random operations both files are compared whole, sizes included.
 * Exit status: 0 all matched, 1 a mismatch (the first one is described on stderr), 2 usage or
 * I/O error. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct options {
	long ops;
	uint64_t seed;
	size_t max_len;
	uint64_t block;
	int write;
	int direct;
	const char *path;
	const char *ref_path;
};

static uint64_t rng_state;

/* splitmix64: the same seed gives the same operations on every machine. */
static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t n)
{
	return n ? rng_next() % n : 0;
}

/* Reads until `len` bytes or end of file; returns the count, or -1 with errno set. */
static ssize_t read_full(int fd, uint8_t *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int write_full(int fd, const uint8_t *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, buf + done, len - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static off_t file_size(int fd, const char *path)
{
	struct stat st;

	if (fstat(fd, &st)) {
		fprintf(stderr, "pread_check: fstat %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return st.st_size;
}

/* An offset in [0, limit), biased to lie near block boundaries a quarter of the time. */
static off_t pick_offset(const struct options *o, uint64_t limit)
{
	uint64_t off;

	if (limit == 0)
		return 0;
	if (rng_below(4) == 0 && limit > o->block) {
		off = rng_below(limit / o->block + 1) * o->block;
		off = off + rng_below(17) - 8;
		if (off >= limit) /* wrapped below zero or past the end */
			off = rng_below(limit);
	} else {
		off = rng_below(limit);
	}
	return (off_t)off;
}

static size_t pick_length(const struct options *o)
{
	/* Mostly small reads, some up to max_len, so both in-block and multi-block cases occur. */
	if (rng_below(2))
		return 1 + rng_below(4096);
	return 1 + rng_below(o->max_len);
}

/* Reads [off, off+len) from both files; 0 if equal, 1 (with a report) if not. */
static int compare_range(int fd, int ref, uint8_t *buf, uint8_t *ref_buf, off_t off, size_t len,
                         const char *what)
{
	ssize_t got = read_full(fd, buf, len, off);
	ssize_t want = read_full(ref, ref_buf, len, off);

	if (got < 0 || want < 0) {
		fprintf(stderr, "pread_check: %s read at %jd len %zu: %s\n", what, (intmax_t)off,
		        len, strerror(errno));
		exit(2);
	}
	if (got != want) {
		fprintf(stderr,
		        "pread_check: %s at offset %jd len %zu: read %zd bytes, expected %zd\n",
		        what, (intmax_t)off, len, got, want);
		return 1;
	}
	if (memcmp(buf, ref_buf, (size_t)got) != 0) {
		size_t i = 0;

		while (buf[i] == ref_buf[i])
			i++;
		fprintf(
		    stderr,
		    "pread_check: %s at offset %jd len %zu: first differing byte at file offset "
		    "%jd: 0x%02x, expected 0x%02x\n",
		    what, (intmax_t)off, len, (intmax_t)(off + (off_t)i), buf[i], ref_buf[i]);
		return 1;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: pread_check [-n OPS] [-s SEED] [-m MAXLEN] [-b BLOCK] [-w] [-d] "
	                "FILE REFERENCE\n");
	exit(2);
}

static void parse_options(int argc, char **argv, struct options *o)
{
	int c;

	*o = (struct options){.ops = 1000, .seed = 1, .max_len = 300000, .block = 131072};
	while ((c = getopt(argc, argv, "n:s:m:b:wd")) != -1) {
		switch (c) {
		case 'n':
			o->ops = strtol(optarg, NULL, 0);
			break;
		case 's':
			o->seed = strtoull(optarg, NULL, 0);
			break;
		case 'm':
			o->max_len = strtoull(optarg, NULL, 0);
			break;
		case 'b':
			o->block = strtoull(optarg, NULL, 0);
			break;
		case 'w':
			o->write = 1;
			break;
		case 'd':
			o->direct = 1;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || o->ops < 0 || o->max_len == 0 || o->block == 0)
		usage();
	o->path = argv[optind];
	o->ref_path = argv[optind + 1];
}

int main(int argc, char **argv)
{
	struct options o;
	uint8_t *buf, *ref_buf;
	int fd, ref, flags, mismatches = 0;
	off_t size;

	parse_options(argc, argv, &o);
	rng_state = o.seed;
	flags = (o.write ? O_RDWR : O_RDONLY) | (o.direct ? O_DIRECT : 0);
	fd = open(o.path, flags);
	if (fd < 0) {
		fprintf(stderr, "pread_check: open %s: %s\n", o.path, strerror(errno));
		return 2;
	}
	ref = open(o.ref_path, o.write ? O_RDWR : O_RDONLY);
	if (ref < 0) {
		fprintf(stderr, "pread_check: open %s: %s\n", o.ref_path, strerror(errno));
		return 2;
	}
	/* Aligned buffers, so that O_DIRECT works on any kernel. */
	if (posix_memalign((void **)&buf, 4096, o.max_len + 4096) ||
	    posix_memalign((void **)&ref_buf, 4096, o.max_len + 4096)) {
		fprintf(stderr, "pread_check: out of memory\n");
		return 2;
	}
	if (file_size(fd, o.path) != file_size(ref, o.ref_path)) {
		fprintf(stderr, "pread_check: sizes differ before the test: %jd vs %jd\n",
		        (intmax_t)file_size(fd, o.path), (intmax_t)file_size(ref, o.ref_path));
		return 1;
	}

	/* Writes land below 1.25x the starting size: the file grows by at most a quarter. */
	size = file_size(ref, o.ref_path);
	for (long i = 0; o.write && i < o.ops; i++) {
		off_t off = pick_offset(&o, (uint64_t)size + (uint64_t)size / 4 + 1);
		size_t len = pick_length(&o);

		for (size_t k = 0; k < len; k += 8) {
			uint64_t r = rng_next();

			memcpy(buf + k, &r, len - k < 8 ? len - k : 8);
		}
		/* Half the writes are runs of one byte: compressible, like real data. */
		if (rng_below(2))
			memset(buf, buf[0], len);
		if (write_full(fd, buf, len, off) || write_full(ref, buf, len, off)) {
			fprintf(stderr, "pread_check: write at %jd len %zu: %s\n", (intmax_t)off,
			        len, strerror(errno));
			return 2;
		}
	}

	size = file_size(ref, o.ref_path);
	for (long i = 0; i < o.ops && mismatches < 5; i++) {
		off_t off = pick_offset(&o, (uint64_t)size + 4096);
		size_t len = pick_length(&o);

		mismatches += compare_range(fd, ref, buf, ref_buf, off, len, "random read");
	}
	if (file_size(fd, o.path) != size) {
		fprintf(stderr, "pread_check: size %jd, expected %jd\n",
		        (intmax_t)file_size(fd, o.path), (intmax_t)size);
		mismatches++;
	}
	for (off_t off = 0; off < size + 1 && mismatches == 0; off += (off_t)o.max_len)
		mismatches +=
		    compare_range(fd, ref, buf, ref_buf, off, o.max_len, "sequential read");

	if (close(fd) || close(ref)) {
		fprintf(stderr, "pread_check: close: %s\n", strerror(errno));
		return 2;
	}
	free(buf);
	free(ref_buf);
	return mismatches ? 1 : 0;
}
