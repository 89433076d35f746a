/* Segment compaction: the live records of a segment are copied to the open segment, the index
 * is pointed at the copies (only where it still points at the originals), and the emptied
 * segment file is deleted. Runs offline (`boa gc`) or from the daemon's background pool; in
 * both cases a record is copied before anything refers to the copy, so a crash at any point
 * leaves every extent pointing at a complete record. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs.h"
#include "fs_gc.h"
#include "fs_log.h"
#include "fs_txn.h"

#define GC_BATCH 64

struct gc_move {
	uint64_t ino, block;
	struct extent from, to;
};

struct gc_walk {
	struct fs *fs;
	uint64_t segment;
	struct gc_move moves[GC_BATCH];
	size_t count;
	uint64_t moved_bytes;
	int rc;
};

/* Points the index at the copies, each only if the extent is still the original. */
static int gc_commit_txn(struct idx_txn *t, void *arg)
{
	struct gc_walk *w = arg;
	int rc = 0;

	for (size_t i = 0; i < w->count && !rc; i++) {
		struct gc_move *m = &w->moves[i];
		struct extent now;

		rc = idx_extent_get(t, m->ino, m->block, &now);
		if (rc == -ENOENT) {
			rc = 0;
			continue;
		}
		if (rc || now.segment != m->from.segment || now.offset != m->from.offset)
			continue;
		m->to.flags = now.flags;
		rc = idx_extent_put(t, m->ino, m->block, &m->to, NULL);
	}
	return rc;
}

/* The copies of the batch are committed or given up: settle them (seg_settle). */
static void gc_settle(struct gc_walk *w)
{
	for (size_t i = 0; i < w->count; i++)
		seg_settle(w->fs->seg, &w->moves[i].to);
	w->count = 0;
}

static int gc_commit(struct gc_walk *w)
{
	int rc;

	if (!w->count)
		return 0;
	rc = seg_sync(w->fs->seg);
	if (!rc)
		rc = fs_txn_run(w->fs, NULL, 0, gc_commit_txn, w);
	gc_settle(w);
	return rc;
}

static int gc_record(void *arg, uint64_t offset, const struct seg_record_info *info,
                     const void *payload, uint32_t stored_len)
{
	struct gc_walk *w = arg;
	struct idx_txn *t = NULL;
	struct gc_move *m;
	struct extent now;
	int rc;

	rc = idx_read_begin(w->fs->idx, &t);
	if (rc)
		return rc;
	rc = idx_extent_get(t, info->ino, info->block, &now);
	idx_read_end(t);
	if (rc == -ENOENT || (!rc && (now.segment != w->segment || now.offset != offset)))
		return 0; /* dead: nothing points at this record */
	if (rc)
		return rc;
	m = &w->moves[w->count];
	m->ino = info->ino;
	m->block = info->block;
	m->from = now;
	rc = seg_append(w->fs->seg, info, payload, stored_len, &m->to);
	if (rc)
		return rc;
	m->to.written_at_ns = now.written_at_ns; /* age is the data's, not the copy's */
	w->moved_bytes += now.record_len;
	if (++w->count == GC_BATCH)
		return gc_commit(w);
	return 0;
}

/* Forgets a removed segment's usage; one without a usage record is forgotten already. */
static int segment_forget_txn(struct idx_txn *t, void *arg)
{
	int rc = idx_segment_del(t, *(const uint64_t *)arg);

	return rc == -ENOENT ? 0 : rc;
}

int fs_gc_segment(struct fs *fs, uint64_t segment, uint64_t *moved_bytes, uint64_t *freed_bytes)
{
	struct gc_walk *w;
	uint64_t size = 0;
	int rc;

	/* A segment with records not yet settled may hold records that a commit in flight is
	 * about to point at: the index does not show them live yet. Compacting it would delete
	 * them (the "dead bytes exceed live" and vanished-segment reports of long fsx runs). Only
	 * the tail receives appends, so a segment that is not busy now stays so. */
	if (seg_busy(fs->seg, segment))
		return -EBUSY;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fs = fs;
	w->segment = segment;
	seg_size(fs->seg, segment, &size);
	rc = seg_each_record(fs->seg, segment, gc_record, w);
	if (!rc)
		rc = gc_commit(w);
	gc_settle(w); /* copies of a batch cut short by an error */
	if (rc)
		goto out; /* a damaged record: keep the segment for fsck to report */
	/* The commit that moved the records must be on disk before the file goes: the index
	 * commits without syncing its meta page, and a power cut would bring back the one whose
	 * extents point into the removed segment. */
	rc = idx_sync(fs->idx);
	if (rc)
		goto out;
	/* No extent can point into a segment that is not the open one once its records moved. */
	pthread_rwlock_wrlock(&fs->seg_remove_lock);
	rc = seg_remove(fs->seg, segment);
	pthread_rwlock_unlock(&fs->seg_remove_lock);
	if (rc)
		goto out;
	rc = fs_txn_run(fs, NULL, 0, segment_forget_txn, &segment);
out:
	if (moved_bytes)
		*moved_bytes = w->moved_bytes;
	if (freed_bytes)
		*freed_bytes = rc ? 0 : size;
	free(w);
	return rc;
}

int fs_gc(struct fs *fs, double dead_fraction, struct fs_gc_report *report)
{
	struct idx_txn *t = NULL;
	uint64_t *ids = NULL, tail = seg_tail(fs->seg);
	size_t count = 0;
	int rc;

	memset(report, 0, sizeof(*report));
	/* One pass at a time: two would copy the same live records twice and race to delete the
	 * same file. */
	pthread_mutex_lock(&fs->gc_lock);
	rc = seg_list(fs->seg, &ids, &count);
	if (rc)
		goto out;
	for (size_t i = 0; i < count; i++) {
		struct idx_segment_usage u = {0, 0};
		uint64_t size = 0, moved = 0, freed = 0;

		if (__atomic_load_n(&fs->stopping, __ATOMIC_RELAXED))
			break; /* unmounting: each segment is done or untouched, the rest can wait
			        */
		if (ids[i] == tail || seg_busy(fs->seg, ids[i]) ||
		    seg_size(fs->seg, ids[i], &size) || size == 0)
			continue;
		rc = idx_read_begin(fs->idx, &t);
		if (rc)
			break;
		rc = idx_segment_get(t, ids[i], &u);
		idx_read_end(t);
		if (rc && rc != -ENOENT)
			break;
		rc = 0;
		/* Dead space is whatever of the file no extent uses, failed appends included. */
		if (u.live_bytes >= size || (double)(size - u.live_bytes) < dead_fraction * size)
			continue;
		report->segments_examined++;
		rc = fs_gc_segment(fs, ids[i], &moved, &freed);
		if (rc) {
			fs_log("gc: segment %016llx: %s; left in place", (unsigned long long)ids[i],
			       strerror(-rc));
			report->segments_failed++;
			rc = 0;
			continue;
		}
		report->segments_removed++;
		report->bytes_moved += moved;
		report->bytes_freed += freed;
	}
	free(ids);
out:
	pthread_mutex_unlock(&fs->gc_lock);
	return rc;
}

/* Space set aside in ARCHIVE/reserve while mounted, so that compaction can still copy live
 * records when writes have filled the disk: 5% of the file system, at most FS_RESERVE_MAX. */
#define FS_RESERVE_MAX (8ull << 20)

int fs_reserve_take(struct fs *fs)
{
	char path[4096];
	struct statvfs sv;
	uint64_t want;
	int fd, rc = 0;

	if (statvfs(fs->archive, &sv))
		return -errno;
	want = (uint64_t)sv.f_blocks * sv.f_frsize / 20;
	if (want > FS_RESERVE_MAX)
		want = FS_RESERVE_MAX;
	snprintf(path, sizeof(path), "%s/reserve", fs->archive);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = posix_fallocate(fd, 0, (off_t)want);
	if (rc)
		ftruncate(fd, 0); /* not enough space now; gc tries again after freeing some */
	close(fd);
	return -rc;
}

int fs_reserve_release(struct fs *fs)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/reserve", fs->archive);
	if (stat(path, &st) || st.st_blocks == 0)
		return -ENOENT;
	return truncate(path, 0) ? -errno : 0;
}
