/* powerloss_apply — turns the files that a killed boafs daemon left into a state that a power cut
 * could have left, from the undo log of powerloss_shim (format: powerloss.h).
 *
 *   powerloss_apply [--seed N | --all-lost] [--dry-run] [--relocate FROM TO] LOG
 *   powerloss_apply --dump LOG
 *
 * For every file, the records after its last fsync are the writes the disk may not have: the
 * first such record of a page holds the page's content at that fsync. With --seed, each such
 * page is independently written back (kept as it is now) or lost (its old content restored), and
 * the file's size is either the one at its last fsync or the current one; a file or directory
 * created after the last fsync of its directory keeps or loses its name (and with it everything
 * in it). --all-lost loses all of it: the worst case, the same every time. --dry-run only counts.
 * --dump prints the records, one a line. --relocate applies the log to a copy of the archive: paths
 * that begin with FROM are taken to begin with TO.
 *
 * A path stands for one file: a name unlinked and created again within one log would mix two
 * files' records (boafs never reuses a segment's name; the shim does not log unlinks).
 *
 * Run it only while no process has the files open. Prints one summary line; exit status 0, or 2
 * on a usage error, an unreadable log or a failing call. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "powerloss.h"

struct rec {
	struct pl_record h; /* a copy: records lie at any byte offset in the log */
	const char *path;   /* not NUL-terminated: h.path_len bytes */
	const uint8_t *data;
	uint64_t offset; /* of the record in the log */
	uint32_t file;   /* index into the file table */
};

/* A path that the log names: a file written to, or a directory synced or created. */
struct file {
	char *logged;          /* the path as the log names it */
	char *path;            /* where it is now (--relocate) */
	uint64_t synced_until; /* records of this path before this log offset are durable */
	uint64_t dirsynced_until;
	int64_t synced_size; /* -1: nothing unsynced */
	uint64_t created_at; /* log offset + 1 of its last creation; 0: none logged */
	int created_dir;
	int removed;
	int fd; /* open while its pages are restored; -1: nothing to do */
	uint64_t size, final_size;
};

/* A page with unsynced writes: its content at the last fsync. */
struct page {
	uint64_t key; /* file << 40 | page; 0: empty slot (file 0 is never written: see main) */
	const uint8_t *old; /* NULL: zeros (past the end of the file then) */
	int synced;         /* made durable again by an O_DSYNC write since */
};

static struct rec *recs;
static size_t rec_count, rec_cap;
static struct file *files;
static size_t file_count, file_cap;
static struct page *pages;
static size_t page_cap, page_count;
static uint64_t rng_state;
static int all_lost, dry_run;
static const char *relocate_from = "", *relocate_to = "";

static void die(const char *what, int err)
{
	fprintf(stderr, "powerloss_apply: %s: %s\n", what, strerror(err));
	exit(2);
}

static uint64_t rnd(void)
{
	uint64_t x = (rng_state += 0x9e3779b97f4a7c15ull);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Whether what was not synced is lost this time. */
static int lose(void)
{
	return all_lost || (rnd() & 1);
}

static uint32_t file_intern(const char *path, size_t len)
{
	for (size_t i = 1; i < file_count; i++)
		if (strlen(files[i].logged) == len && !memcmp(files[i].logged, path, len))
			return (uint32_t)i;
	if (file_count == file_cap) {
		file_cap = file_cap ? file_cap * 2 : 64;
		files = realloc(files, file_cap * sizeof(*files));
		if (!files)
			die("file table", ENOMEM);
		if (!file_count)
			file_count = 1; /* index 0 stays unused: page keys of 0 mark empty slots */
	}
	memset(&files[file_count], 0, sizeof(files[0]));
	{
		size_t from = strlen(relocate_from), to = strlen(relocate_to);
		int moved = from && len >= from && !memcmp(path, relocate_from, from);
		char *p = malloc(len + to + 1);

		if (!p)
			die("file table", ENOMEM);
		if (moved)
			snprintf(p, len + to + 1, "%s%.*s", relocate_to, (int)(len - from),
			         path + from);
		else
			snprintf(p, len + 1, "%.*s", (int)len, path);
		files[file_count].path = p;
		files[file_count].logged = strndup(path, len);
		if (!files[file_count].logged)
			die("file table", ENOMEM);
	}
	files[file_count].synced_size = -1;
	return (uint32_t)file_count++;
}

/* The slot of `key`, added (with *fresh set) when it is not there yet. */
static struct page *page_slot(uint64_t key, int *fresh)
{
	size_t i;
	int ignored;

	if (2 * (page_count + 1) > page_cap) {
		struct page *old = pages;
		size_t old_cap = page_cap;

		page_cap = page_cap ? page_cap * 2 : 4096;
		pages = calloc(page_cap, sizeof(*pages));
		if (!pages)
			die("page table", ENOMEM);
		page_count = 0;
		for (size_t j = 0; j < old_cap; j++)
			if (old[j].key)
				*page_slot(old[j].key, &ignored) = old[j];
		free(old);
	}
	i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 17) & (page_cap - 1);
	while (pages[i].key && pages[i].key != key)
		i = (i + 1) & (page_cap - 1);
	*fresh = !pages[i].key;
	if (*fresh) {
		pages[i].key = key;
		page_count++;
	}
	return &pages[i];
}

/* Reads the log's records; a torn last record (the daemon died while appending it, before the
 * call it describes) is dropped. */
static const uint8_t *load(const char *path, size_t *len_out)
{
	struct stat st;
	const uint8_t *log;
	uint64_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st))
		die(path, errno);
	*len_out = (size_t)st.st_size;
	if (!st.st_size) {
		close(fd);
		return NULL;
	}
	log = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (log == MAP_FAILED)
		die(path, errno);
	close(fd);
	while (off + sizeof(struct pl_record) <= (uint64_t)st.st_size) {
		struct pl_record h;
		uint64_t len;

		memcpy(&h, log + off, sizeof(h));
		len = sizeof(h) + h.path_len + h.data_len;
		if (h.magic != PL_MAGIC || h.type < PL_UNDO || h.type > PL_MKDIR) {
			fprintf(stderr, "powerloss_apply: %s: no record at offset %" PRIu64 "\n",
			        path, off);
			exit(2);
		}
		if (off + len > (uint64_t)st.st_size)
			break;
		if (rec_count == rec_cap) {
			rec_cap = rec_cap ? rec_cap * 2 : 1024;
			recs = realloc(recs, rec_cap * sizeof(*recs));
			if (!recs)
				die("record table", ENOMEM);
		}
		recs[rec_count++] = (struct rec){
		    .h = h,
		    .path = (const char *)log + off + sizeof(h),
		    .data = log + off + sizeof(h) + h.path_len,
		    .offset = off,
		    .file = file_intern((const char *)log + off + sizeof(h), h.path_len),
		};
		off += len;
	}
	return log;
}

static void dump(void)
{
	static const char *const names[] = {"",        "UNDO",    "PAGESYNC", "SYNC",
	                                    "DIRSYNC", "SYNCALL", "CREATE",   "MKDIR"};

	for (size_t i = 0; i < rec_count; i++) {
		const struct pl_record *h = &recs[i].h;

		printf("%" PRIu64 " %s %s pages %" PRIu64 "+%u size %" PRIu64 " covers %" PRIu64
		       " data %" PRIu64 "\n",
		       recs[i].offset, names[h->type], files[recs[i].file].path, h->first_page,
		       h->npages, h->size, h->covers, h->data_len);
	}
}

/* The file table index of the directory that holds `path`, or 0 when the log never names it. */
static uint32_t parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash || slash == path)
		return 0;
	for (size_t i = 1; i < file_count; i++)
		if (strlen(files[i].path) == (size_t)(slash - path) &&
		    !memcmp(files[i].path, path, (size_t)(slash - path)))
			return (uint32_t)i;
	return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) && errno != ENOENT)
		die(path, errno);
	return 0;
}

/* Whether `path` lies in a directory whose creation the power cut takes back. */
static int under_removed(const char *path)
{
	for (size_t i = 1; i < file_count; i++) {
		size_t n = strlen(files[i].path);

		if (files[i].removed && !strncmp(path, files[i].path, n) && path[n] == '/')
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t syncall_until = 0, reverted = 0, kept = 0, sizes_reverted = 0, sizes_kept = 0;
	uint64_t names_lost = 0, names_kept = 0, files_gone = 0;
	const char *log_path = NULL;
	int do_dump = 0, seeded = 0;
	size_t log_len;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			rng_state = strtoull(argv[++i], NULL, 0);
			seeded = 1;
		} else if (!strcmp(argv[i], "--all-lost")) {
			all_lost = 1;
		} else if (!strcmp(argv[i], "--dry-run")) {
			dry_run = 1;
		} else if (!strcmp(argv[i], "--relocate") && i + 2 < argc) {
			relocate_from = argv[++i];
			relocate_to = argv[++i];
		} else if (!strcmp(argv[i], "--dump")) {
			do_dump = 1;
		} else if (argv[i][0] != '-' && !log_path) {
			log_path = argv[i];
		} else {
			log_path = NULL;
			break;
		}
	}
	if (!log_path || (!do_dump && seeded == all_lost)) {
		fprintf(stderr, "usage: powerloss_apply [--seed N | --all-lost] [--dry-run] "
		                "[--relocate FROM TO] LOG\n"
		                "       powerloss_apply --dump LOG\n");
		return 2;
	}
	load(log_path, &log_len);
	if (do_dump) {
		dump();
		return 0;
	}

	/* What each fsync made durable: the records of its path before its `covers` offset. */
	for (size_t i = 0; i < rec_count; i++) {
		const struct pl_record *h = &recs[i].h;
		struct file *f = &files[recs[i].file];

		if (h->type == PL_SYNC && h->covers > f->synced_until)
			f->synced_until = h->covers;
		else if (h->type == PL_DIRSYNC && h->covers > f->dirsynced_until)
			f->dirsynced_until = h->covers;
		else if (h->type == PL_SYNCALL && h->covers > syncall_until)
			syncall_until = h->covers;
	}

	/* The pages and sizes written after that, and the creations. */
	for (size_t i = 0; i < rec_count; i++) {
		const struct pl_record *h = &recs[i].h;
		struct file *f = &files[recs[i].file];

		if (h->type == PL_CREATE || h->type == PL_MKDIR) {
			f->created_at = recs[i].offset + 1;
			f->created_dir = h->type == PL_MKDIR;
			continue;
		}
		if ((h->type != PL_UNDO && h->type != PL_PAGESYNC) ||
		    recs[i].offset < f->synced_until || recs[i].offset < syncall_until)
			continue;
		if (h->type == PL_UNDO && f->synced_size < 0)
			f->synced_size = (int64_t)h->size;
		if (h->type == PL_PAGESYNC &&
		    (f->synced_size < 0 || (uint64_t)f->synced_size < h->size))
			f->synced_size = (int64_t)h->size; /* durable up to there now */
		for (uint32_t p = 0; p < h->npages; p++) {
			int fresh;
			struct page *pg =
			    page_slot((uint64_t)recs[i].file << 40 | (h->first_page + p), &fresh);

			if (h->type == PL_PAGESYNC) {
				pg->synced = 1;
			} else if (fresh || pg->synced) {
				/* The first change since the page was last durable. */
				pg->synced = 0;
				pg->old = (uint64_t)p * PL_PAGE < h->data_len
				              ? recs[i].data + (uint64_t)p * PL_PAGE
				              : NULL;
			}
		}
	}

	/* Names created since the last fsync of their directory (a directory's loss takes what it
	 * holds with it). */
	for (size_t i = 1; i < file_count; i++) {
		struct file *f = &files[i];
		uint32_t parent = parent_of(f->path);
		uint64_t at;

		if (!f->created_at)
			continue;
		at = f->created_at - 1;
		if (syncall_until > at || (parent && files[parent].dirsynced_until > at))
			continue;
		if (under_removed(f->path))
			continue; /* goes with its directory */
		if (!lose()) {
			names_kept++;
			continue;
		}
		f->removed = 1;
		names_lost++;
		if (dry_run)
			continue;
		if (f->created_dir) {
			if (nftw(f->path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) &&
			    errno != ENOENT)
				die(f->path, errno);
		} else if (unlink(f->path) && errno != ENOENT) {
			die(f->path, errno);
		}
	}

	/* Sizes: the one at the last fsync, or the current one. */
	for (size_t i = 1; i < file_count; i++) {
		struct file *f = &files[i];
		struct stat st;

		f->fd = -1;
		if (f->synced_size < 0 || f->removed || under_removed(f->path))
			continue;
		f->fd = open(f->path, (dry_run ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW);
		if (f->fd < 0) {
			if (errno != ENOENT)
				die(f->path, errno);
			files_gone++; /* unlinked by the daemon */
			continue;
		}
		if (fstat(f->fd, &st))
			die(f->path, errno);
		f->size = (uint64_t)st.st_size;
		f->final_size = f->size;
		if ((uint64_t)f->synced_size != f->size) {
			if (lose()) {
				f->final_size = (uint64_t)f->synced_size;
				sizes_reverted++;
			} else {
				sizes_kept++;
			}
		}
	}

	/* Pages: written back, or their content at the last fsync. */
	for (size_t i = 0; i < page_cap; i++) {
		struct page *pg = &pages[i];
		struct file *f;
		uint64_t at, len;

		if (!pg->key || pg->synced)
			continue;
		f = &files[pg->key >> 40];
		if (f->fd < 0)
			continue;
		if (!lose()) {
			kept++;
			continue;
		}
		reverted++;
		at = (pg->key & ((1ull << 40) - 1)) * PL_PAGE;
		if (dry_run || at >= f->final_size)
			continue;
		len = f->final_size - at < PL_PAGE ? f->final_size - at : PL_PAGE;
		if (pg->old) {
			if (pwrite(f->fd, pg->old, (size_t)len, (off_t)at) != (ssize_t)len)
				die(f->path, errno ? errno : EIO);
		} else {
			static const uint8_t zeros[PL_PAGE];

			if (pwrite(f->fd, zeros, (size_t)len, (off_t)at) != (ssize_t)len)
				die(f->path, errno ? errno : EIO);
		}
	}
	for (size_t i = 1; i < file_count; i++) {
		struct file *f = &files[i];
		struct stat st;

		if (f->fd < 0)
			continue;
		if (!dry_run && (fstat(f->fd, &st) || ((uint64_t)st.st_size != f->final_size &&
		                                       ftruncate(f->fd, (off_t)f->final_size))))
			die(f->path, errno);
		close(f->fd);
	}
	printf("powerloss_apply: %zu records (%zu bytes of log), %s: %" PRIu64
	       " pages reverted, %" PRIu64 " pages kept; %" PRIu64 " sizes set back, %" PRIu64
	       " kept; %" PRIu64 " new names lost, %" PRIu64 " kept; %" PRIu64
	       " written files gone since\n",
	       rec_count, log_len, all_lost ? "all lost" : "random", reverted, kept, sizes_reverted,
	       sizes_kept, names_lost, names_kept, files_gone);
	return 0;
}
