/* seg — append-only segment files of block records (format: index/FORMAT.md).
 *
 * Record header, 48 bytes, little-endian:
 *   0  magic "BOAR"      4   codec u8           5  version u8 (1)     6  header_len u16 (48)
 *   8  model_id u32      12  raw_len u32        16 stored_len u32
 *   20 header_xxh32 u32: low 32 bits of XXH64(seed 0) of the 48 header bytes, this field zeroed
 *   24 ino u64           32  block u64          40 raw_xxh64 u64
 * then stored_len payload bytes. The payload itself is not checksummed here: its integrity is
 * proven after decoding, by raw_xxh64 of the raw bytes (fs/). */
#include "byteorder.h"
#include "seg.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define SEG_MAGIC   "BOAR"
#define SEG_VERSION 1

struct seg_fd {
	uint64_t segment;
	int fd;
};

struct seg_pending {
	uint64_t segment;
	uint64_t records;
};

struct seg_store {
	int dirfd;
	uint64_t roll_bytes;

	pthread_mutex_t tail_lock; /* guards everything from here to read_lock */
	uint64_t tail_id;          /* segment that appends go to */
	int tail_fd;               /* -1 until the first append creates it */
	uint64_t tail_size;
	bool tail_dirty; /* appended since the last fdatasync */
	bool dir_dirty;  /* a segment file was created since the last sync */
	int *rolled_fds; /* earlier tails still to be fdatasync'ed, then closed */
	size_t rolled_count, rolled_cap;
	/* Records appended but not yet settled (seg_settle), per segment: the index may not
	 * point at them yet, so gc must not take their absence from the index for death. */
	struct seg_pending *pending;
	size_t pending_count, pending_cap;

	pthread_rwlock_t read_lock; /* guards the read fd cache, sorted by segment */
	struct seg_fd *readers;
	size_t reader_count, reader_cap;
};

/* The record header's byte layout (index/FORMAT.md; integers little-endian). Fields are byte
 * arrays, so the compiler adds no padding: sizeof and offsetof are the format, and the asserts
 * hold them to FORMAT.md. header_encode and header_decode write and read at these offsets. */
struct record_header {
	uint8_t magic[4], codec, version, header_len[2], model_id[4], raw_len[4], stored_len[4],
	    header_xxh32[4], ino[8], block[8], raw_xxh64[8];
};
#define HDR_AT(h, field) ((h) + offsetof(struct record_header, field))

static_assert(sizeof(struct record_header) == SEG_HEADER_LEN, "record header: 48 bytes");
static_assert(offsetof(struct record_header, codec) == 4 &&
                  offsetof(struct record_header, version) == 5 &&
                  offsetof(struct record_header, header_len) == 6 &&
                  offsetof(struct record_header, model_id) == 8 &&
                  offsetof(struct record_header, raw_len) == 12 &&
                  offsetof(struct record_header, stored_len) == 16 &&
                  offsetof(struct record_header, header_xxh32) == 20 &&
                  offsetof(struct record_header, ino) == 24 &&
                  offsetof(struct record_header, block) == 32 &&
                  offsetof(struct record_header, raw_xxh64) == 40,
              "record header layout as in index/FORMAT.md");

static uint32_t header_checksum(const uint8_t *h)
{
	uint8_t copy[SEG_HEADER_LEN];

	memcpy(copy, h, SEG_HEADER_LEN);
	memset(HDR_AT(copy, header_xxh32), 0, 4);
	return (uint32_t)XXH64(copy, SEG_HEADER_LEN, 0);
}

static void header_encode(uint8_t *h, const struct seg_record_info *info, uint32_t stored_len)
{
	memcpy(HDR_AT(h, magic), SEG_MAGIC, 4);
	*HDR_AT(h, codec) = info->codec;
	*HDR_AT(h, version) = SEG_VERSION;
	le16_put(HDR_AT(h, header_len), SEG_HEADER_LEN);
	le32_put(HDR_AT(h, model_id), info->model_id);
	le32_put(HDR_AT(h, raw_len), info->raw_len);
	le32_put(HDR_AT(h, stored_len), stored_len);
	le32_put(HDR_AT(h, header_xxh32), 0);
	le64_put(HDR_AT(h, ino), info->ino);
	le64_put(HDR_AT(h, block), info->block);
	le64_put(HDR_AT(h, raw_xxh64), info->raw_xxh64);
	le32_put(HDR_AT(h, header_xxh32), header_checksum(h));
}

/* Parses and checks a header on its own; `what` names the first problem. */
static int header_decode(const uint8_t *h, struct seg_record_info *info, uint32_t *stored_len,
                         const char **what)
{
	if (memcmp(HDR_AT(h, magic), SEG_MAGIC, 4) != 0) {
		*what = "bad magic";
		return -EIO;
	}
	if (le32_get(HDR_AT(h, header_xxh32)) != header_checksum(h)) {
		*what = "header checksum mismatch";
		return -EIO;
	}
	if (*HDR_AT(h, version) != SEG_VERSION ||
	    le16_get(HDR_AT(h, header_len)) != SEG_HEADER_LEN) {
		*what = "unknown record version";
		return -EIO;
	}
	info->codec = *HDR_AT(h, codec);
	info->model_id = le32_get(HDR_AT(h, model_id));
	info->raw_len = le32_get(HDR_AT(h, raw_len));
	*stored_len = le32_get(HDR_AT(h, stored_len));
	info->ino = le64_get(HDR_AT(h, ino));
	info->block = le64_get(HDR_AT(h, block));
	info->raw_xxh64 = le64_get(HDR_AT(h, raw_xxh64));
	return 0;
}

static void seg_log(uint64_t segment, uint64_t offset, const char *what)
{
	fprintf(stderr, "boafs: segment %016llx offset %llu: %s\n", (unsigned long long)segment,
	        (unsigned long long)offset, what);
}

static void seg_name(char *buf, size_t cap, uint64_t segment)
{
	snprintf(buf, cap, "%016llx.seg", (unsigned long long)segment);
}

/* Parses "%016llx.seg"; anything else in the directory is ignored. */
static bool seg_parse_name(const char *name, uint64_t *segment)
{
	uint64_t v = 0;

	if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0)
		return false;
	for (int i = 0; i < 16; i++) {
		char c = name[i];
		int d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return false;
		v = (v << 4) | (uint64_t)d;
	}
	*segment = v;
	return true;
}

int seg_open(const char *dir, int create, struct seg_store **out)
{
	struct seg_store *s;
	const char *roll = getenv("BOAFS_SEG_ROLL_BYTES"); /* test hook */
	DIR *d;
	struct dirent *de;
	uint64_t highest = 0, id;
	int fd, rc;

	*out = NULL;
	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		fprintf(stderr, "boafs: segment: mkdir %s: %s\n", dir, strerror(errno));
		return rc;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(dup(fd));
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while ((de = readdir(d)) != NULL)
		if (seg_parse_name(de->d_name, &id) && id > highest)
			highest = id;
	closedir(d);

	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->dirfd = fd;
	s->roll_bytes = SEG_ROLL_BYTES;
	if (roll && *roll) {
		unsigned long long v = strtoull(roll, NULL, 0);
		if (v > 0)
			s->roll_bytes = v;
	}
	s->tail_id = highest + 1;
	s->tail_fd = -1;
	pthread_mutex_init(&s->tail_lock, NULL);
	pthread_rwlock_init(&s->read_lock, NULL);
	*out = s;
	return 0;
}

void seg_close(struct seg_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->rolled_count; i++)
		close(s->rolled_fds[i]);
	free(s->rolled_fds);
	free(s->pending);
	if (s->tail_fd >= 0)
		close(s->tail_fd);
	for (size_t i = 0; i < s->reader_count; i++)
		close(s->readers[i].fd);
	free(s->readers);
	close(s->dirfd);
	pthread_rwlock_destroy(&s->read_lock);
	pthread_mutex_destroy(&s->tail_lock);
	free(s);
}

/* Creates the tail segment file; called with tail_lock held. An id taken by someone else (a
 * concurrent gc or a second process) is skipped. */
static int tail_create(struct seg_store *s)
{
	char name[32];

	for (int tries = 0; tries < 64; tries++) {
		seg_name(name, sizeof(name), s->tail_id);
		s->tail_fd = openat(s->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (s->tail_fd >= 0) {
			s->tail_size = 0;
			s->dir_dirty = true;
			return 0;
		}
		if (errno != EEXIST)
			break;
		s->tail_id++;
	}
	int rc = -errno;
	fprintf(stderr, "boafs: segment %016llx: create: %s\n", (unsigned long long)s->tail_id,
	        strerror(errno));
	return rc;
}

/* Moves the tail aside (a dirty one is synced by seg_sync, a clean one closed) and moves on to
 * the next id, which the caller creates now or the next append does; tail_lock held. */
static int tail_set_aside(struct seg_store *s)
{
	if (s->tail_dirty) {
		if (s->rolled_count == s->rolled_cap) {
			size_t cap = s->rolled_cap ? s->rolled_cap * 2 : 4;
			int *fds = realloc(s->rolled_fds, cap * sizeof(*fds));
			if (!fds)
				return -ENOMEM;
			s->rolled_fds = fds;
			s->rolled_cap = cap;
		}
		s->rolled_fds[s->rolled_count++] = s->tail_fd;
	} else {
		close(s->tail_fd);
	}
	s->tail_fd = -1;
	s->tail_dirty = false;
	s->tail_id++;
	return 0;
}

/* Moves the tail aside and starts the next id; tail_lock held. */
static int tail_roll(struct seg_store *s)
{
	int rc = tail_set_aside(s);

	return rc ? rc : tail_create(s);
}

/* Room for one more pending segment, taken before the record is written so that a record is
 * never appended without being counted; tail_lock held. */
static int pending_reserve(struct seg_store *s)
{
	struct seg_pending *bigger;
	size_t cap;

	if (s->pending_count < s->pending_cap)
		return 0;
	cap = s->pending_cap ? s->pending_cap * 2 : 4;
	bigger = realloc(s->pending, cap * sizeof(*bigger));
	if (!bigger)
		return -ENOMEM;
	s->pending = bigger;
	s->pending_cap = cap;
	return 0;
}

static size_t pending_find(const struct seg_store *s, uint64_t segment)
{
	size_t i = 0;

	while (i < s->pending_count && s->pending[i].segment != segment)
		i++;
	return i;
}

/* tail_lock held, room reserved. */
static void pending_add(struct seg_store *s, uint64_t segment)
{
	size_t i = pending_find(s, segment);

	if (i == s->pending_count)
		s->pending[s->pending_count++] = (struct seg_pending){segment, 0};
	s->pending[i].records++;
}

void seg_settle(struct seg_store *s, const struct extent *e)
{
	size_t i;

	if (!e->record_len)
		return; /* never appended */
	pthread_mutex_lock(&s->tail_lock);
	i = pending_find(s, e->segment);
	if (i < s->pending_count && !--s->pending[i].records)
		s->pending[i] = s->pending[--s->pending_count];
	pthread_mutex_unlock(&s->tail_lock);
}

bool seg_busy(struct seg_store *s, uint64_t segment)
{
	bool busy;

	pthread_mutex_lock(&s->tail_lock);
	busy = segment == s->tail_id || pending_find(s, segment) < s->pending_count;
	pthread_mutex_unlock(&s->tail_lock);
	return busy;
}

int seg_append(struct seg_store *s, const struct seg_record_info *info, const void *payload,
               uint32_t stored_len, struct extent *out)
{
	uint8_t header[SEG_HEADER_LEN];
	uint64_t record_len = (uint64_t)SEG_HEADER_LEN + stored_len, done = 0, start;
	struct timespec ts;
	int rc = 0;

	if (record_len > UINT32_MAX)
		return -EFBIG;
	header_encode(header, info, stored_len);
	pthread_mutex_lock(&s->tail_lock);
	if (s->tail_fd < 0)
		rc = tail_create(s);
	else if (s->tail_size > 0 && s->tail_size + record_len > s->roll_bytes)
		rc = tail_roll(s);
	if (!rc)
		rc = pending_reserve(s);
	if (rc)
		goto out;
	start = s->tail_size;
	while (done < record_len) {
		struct iovec iov[2];
		int n = 0;
		ssize_t w;

		if (done < SEG_HEADER_LEN) {
			iov[n].iov_base = header + done;
			iov[n++].iov_len = SEG_HEADER_LEN - done;
		}
		if (stored_len) {
			uint64_t skip = done > SEG_HEADER_LEN ? done - SEG_HEADER_LEN : 0;
			iov[n].iov_base = (uint8_t *)payload + skip;
			iov[n++].iov_len = stored_len - skip;
		}
		w = pwritev(s->tail_fd, iov, n, (off_t)(start + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? -errno : -ENOSPC;
			break;
		}
		done += (uint64_t)w;
	}
	if (rc) {
		/* Leave the segment exactly as it was: a partial record at the tail would make
		 * seg_each_record stop there. */
		char what[96];
		snprintf(what, sizeof(what), "append failed (%s), rolled back", strerror(-rc));
		seg_log(s->tail_id, start, what);
		if (ftruncate(s->tail_fd, (off_t)start) < 0)
			seg_log(s->tail_id, start, "truncate after failed append failed");
		goto out;
	}
	s->tail_size += record_len;
	s->tail_dirty = true;
	pending_add(s, s->tail_id);
	clock_gettime(CLOCK_REALTIME, &ts);
	out->segment = s->tail_id;
	out->offset = start;
	out->record_len = (uint32_t)record_len;
	out->stored_len = stored_len;
	out->raw_len = info->raw_len;
	out->codec = info->codec;
	out->flags = 0;
	out->model_id = info->model_id;
	out->raw_xxh64 = info->raw_xxh64;
	out->written_at_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
out:
	pthread_mutex_unlock(&s->tail_lock);
	return rc;
}

int seg_sync(struct seg_store *s)
{
	int rc = 0;
	size_t kept = 0;

	/* Under the tail lock: a roll may otherwise close the fd being synced. */
	pthread_mutex_lock(&s->tail_lock);
	for (size_t i = 0; i < s->rolled_count; i++) {
		if (fdatasync(s->rolled_fds[i]) < 0) {
			if (!rc)
				rc = -errno;
			s->rolled_fds[kept++] = s->rolled_fds[i];
			continue;
		}
		close(s->rolled_fds[i]);
	}
	s->rolled_count = kept;
	if (s->tail_fd >= 0 && s->tail_dirty) {
		if (fdatasync(s->tail_fd) < 0) {
			if (!rc)
				rc = -errno;
		} else {
			s->tail_dirty = false;
		}
	}
	if (s->dir_dirty) { /* the new file's name must be durable too */
		if (fsync(s->dirfd) < 0) {
			if (!rc)
				rc = -errno;
		} else {
			s->dir_dirty = false;
		}
	}
	pthread_mutex_unlock(&s->tail_lock);
	if (rc)
		fprintf(stderr, "boafs: segment: sync: %s\n", strerror(-rc));
	return rc;
}

/* Index of the first cache entry with id >= segment. */
static size_t reader_find(const struct seg_store *s, uint64_t segment)
{
	size_t lo = 0, hi = s->reader_count;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->readers[mid].segment < segment)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Returns a read-only fd for `segment` with read_lock held shared (so seg_remove cannot close
 * it under the reader), or a negative errno without the lock. */
static int reader_fd(struct seg_store *s, uint64_t segment)
{
	char name[32];
	size_t i;
	int fd;

	for (;;) {
		pthread_rwlock_rdlock(&s->read_lock);
		i = reader_find(s, segment);
		if (i < s->reader_count && s->readers[i].segment == segment)
			return s->readers[i].fd;
		pthread_rwlock_unlock(&s->read_lock);

		pthread_rwlock_wrlock(&s->read_lock);
		i = reader_find(s, segment);
		if (i < s->reader_count && s->readers[i].segment == segment)
			goto again; /* another thread opened it meanwhile */
		if (s->reader_count == s->reader_cap) {
			size_t cap = s->reader_cap ? s->reader_cap * 2 : 16;
			struct seg_fd *r = realloc(s->readers, cap * sizeof(*r));
			if (!r) {
				fd = -ENOMEM;
				goto fail;
			}
			s->readers = r;
			s->reader_cap = cap;
		}
		seg_name(name, sizeof(name), segment);
		fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fd = -errno;
			goto fail;
		}
		memmove(s->readers + i + 1, s->readers + i,
		        (s->reader_count - i) * sizeof(*s->readers));
		s->readers[i].segment = segment;
		s->readers[i].fd = fd;
		s->reader_count++;
	again:
		pthread_rwlock_unlock(&s->read_lock);
	}
fail:
	pthread_rwlock_unlock(&s->read_lock);
	return fd;
}

/* Reads exactly the iovecs at `off`; -EIO (logged) when the file ends first. */
static int read_full(int fd, struct iovec *iov, int n, uint64_t off, uint64_t segment,
                     uint64_t record_off)
{
	for (;;) {
		ssize_t r = preadv(fd, iov, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int rc = -errno;
			seg_log(segment, record_off, strerror(errno));
			return rc;
		}
		if (r == 0) {
			seg_log(segment, record_off,
			        "record extends beyond the end of the segment");
			return -EIO;
		}
		off += (uint64_t)r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n == 0)
			return 0;
		iov->iov_base = (uint8_t *)iov->iov_base + r;
		iov->iov_len -= (size_t)r;
	}
}

int seg_record_read(struct seg_store *s, const struct extent *e, void *payload, size_t cap)
{
	uint8_t header[SEG_HEADER_LEN];
	struct seg_record_info info;
	struct iovec iov[2];
	uint32_t stored_len;
	const char *what = NULL;
	int fd, rc;

	if (cap < e->stored_len)
		return -EINVAL;
	if (e->record_len != (uint64_t)SEG_HEADER_LEN + e->stored_len) {
		seg_log(e->segment, e->offset, "extent record length does not match stored length");
		return -EIO;
	}
	fd = reader_fd(s, e->segment);
	if (fd < 0) {
		seg_log(e->segment, e->offset,
		        fd == -ENOENT ? "segment file missing" : "cannot open segment");
		return fd == -ENOENT ? -EIO : fd;
	}
	iov[0].iov_base = header;
	iov[0].iov_len = SEG_HEADER_LEN;
	iov[1].iov_base = payload;
	iov[1].iov_len = e->stored_len;
	rc = read_full(fd, iov, e->stored_len ? 2 : 1, e->offset, e->segment, e->offset);
	pthread_rwlock_unlock(&s->read_lock);
	if (rc)
		return rc;
	rc = header_decode(header, &info, &stored_len, &what);
	if (!rc) {
		if (info.codec != e->codec)
			what = "codec differs from the index";
		else if (stored_len != e->stored_len)
			what = "stored length differs from the index";
		else if (info.raw_len != e->raw_len)
			what = "raw length differs from the index";
		else if (info.model_id != e->model_id)
			what = "model id differs from the index";
		else if (info.raw_xxh64 != e->raw_xxh64)
			what = "raw checksum differs from the index";
		rc = what ? -EIO : 0;
	}
	if (rc)
		seg_log(e->segment, e->offset, what);
	return rc;
}

int seg_each_record(struct seg_store *s, uint64_t segment, seg_record_cb cb, void *arg)
{
	char name[32];
	uint8_t header[SEG_HEADER_LEN], *payload = NULL;
	size_t payload_cap = 0;
	uint64_t off = 0, size;
	struct seg_record_info info;
	struct stat st;
	uint32_t stored_len;
	const char *what;
	int fd, rc = 0;

	seg_name(name, sizeof(name), segment);
	fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	size = (uint64_t)st.st_size;
	while (off < size) {
		struct iovec iov[1] = {{header, SEG_HEADER_LEN}};

		if (size - off < SEG_HEADER_LEN) {
			seg_log(segment, off, "partial record header at the end");
			rc = -EIO;
			break;
		}
		rc = read_full(fd, iov, 1, off, segment, off);
		if (rc)
			break;
		what = NULL;
		rc = header_decode(header, &info, &stored_len, &what);
		if (!rc && stored_len > size - off - SEG_HEADER_LEN) {
			what = "record extends beyond the end of the segment";
			rc = -EIO;
		}
		if (rc) {
			seg_log(segment, off, what);
			break;
		}
		if (stored_len > payload_cap) {
			uint8_t *p = realloc(payload, stored_len);
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			payload = p;
			payload_cap = stored_len;
		}
		if (stored_len) {
			struct iovec piov[1] = {{payload, stored_len}};
			rc = read_full(fd, piov, 1, off + SEG_HEADER_LEN, segment, off);
			if (rc)
				break;
		}
		rc = cb(arg, off, &info, payload, stored_len);
		if (rc)
			break;
		off += SEG_HEADER_LEN + (uint64_t)stored_len;
	}
out:
	free(payload);
	close(fd);
	return rc;
}

int seg_remove(struct seg_store *s, uint64_t segment)
{
	char name[32];
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&s->tail_lock);
	if ((segment == s->tail_id && s->tail_fd >= 0) ||
	    pending_find(s, segment) < s->pending_count)
		rc = -EBUSY; /* still being appended to, or records not yet settled */
	pthread_mutex_unlock(&s->tail_lock);
	if (rc)
		return rc;

	pthread_rwlock_wrlock(&s->read_lock);
	i = reader_find(s, segment);
	if (i < s->reader_count && s->readers[i].segment == segment) {
		close(s->readers[i].fd);
		memmove(s->readers + i, s->readers + i + 1,
		        (s->reader_count - i - 1) * sizeof(*s->readers));
		s->reader_count--;
	}
	seg_name(name, sizeof(name), segment);
	if (unlinkat(s->dirfd, name, 0) < 0)
		rc = -errno;
	pthread_rwlock_unlock(&s->read_lock);
	if (!rc && fsync(s->dirfd) < 0) /* gc may now drop the index entries for good */
		rc = -errno;
	return rc;
}

uint64_t seg_tail(struct seg_store *s)
{
	uint64_t id;

	pthread_mutex_lock(&s->tail_lock);
	id = s->tail_id;
	pthread_mutex_unlock(&s->tail_lock);
	return id;
}

int seg_size(struct seg_store *s, uint64_t segment, uint64_t *size)
{
	struct stat st;
	char name[32];

	seg_name(name, sizeof(name), segment);
	if (fstatat(s->dirfd, name, &st, 0) < 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

int seg_list(struct seg_store *s, uint64_t **ids, size_t *count)
{
	DIR *d;
	struct dirent *e;
	uint64_t *v = NULL, *bigger;
	size_t n = 0, cap = 0;
	int fd, rc = 0;

	fd = dup(s->dirfd);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		unsigned long long id;
		char tail;

		if (strlen(e->d_name) != 20 || sscanf(e->d_name, "%16llx.se%c", &id, &tail) != 2 ||
		    tail != 'g')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			bigger = realloc(v, cap * sizeof(*v));
			if (!bigger) {
				rc = -ENOMEM;
				break;
			}
			v = bigger;
		}
		v[n++] = id;
	}
	closedir(d);
	if (rc) {
		free(v);
		return rc;
	}
	*ids = v;
	*count = n;
	return 0;
}

int seg_roll(struct seg_store *s)
{
	int rc = 0;

	pthread_mutex_lock(&s->tail_lock);
	if (s->tail_fd >= 0)
		rc = tail_set_aside(s); /* the next id is created by the next append */
	pthread_mutex_unlock(&s->tail_lock);
	return rc;
}
