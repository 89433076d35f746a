/* Background recompression: worker threads take blocks stored with the
 * fast codec (or raw) that have not been written for the cold period, encode them with BOA,
 * decode the result again to prove it, and replace the extent only if the record is smaller and
 * the extent is still the one that was read. A block BOA does not shrink is marked
 * EXTENT_BOA_TRIED and left alone. Workers run at nice 19, so foreground requests come first.
 * Progress lives in the index (codecs and flags of extents), so after a remount the pool goes on
 * where it stopped.
 *
 * No stalls: each worker owns its BOA context (not one of the shared set that reads decode
 * with), so a read never waits for a worker's encode; and that context's cancel flag is the
 * pool's `stopping`, so unmount and SIGTERM stop an encode within a few hundred bytes. A
 * cancelled block stays as it was: nothing is appended or committed for it. */
#include <errno.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "boa.h"
#include "boa_model.h"
#include "codec.h"
#include "fs.h"
#include "fs_account.h"
#include "fs_block.h"
#include "fs_gc.h"
#include "fs_heat.h"
#include "fs_log.h"
#include "fs_model.h"
#include "fs_node.h"
#include "fs_recompress.h"
#include "fs_txn.h"
#include "fs_unwrap.h"

#define RC_THREADS_MAX 64
#define RC_BATCH       64 /* candidates found per scan of the index */
#define FS_GC_TAIL_MIN (4ull << 20)

/* A block to recompress, or (block == RC_FILE) a whole file to try to unwrap. */
#define RC_FILE UINT64_MAX
struct rc_item {
	uint64_t ino, block;
	struct extent e;
	int tier; /* RC_COLD: fast codec -> BOA; RC_FROZEN: BOA without Mamba -> with */
};

enum { RC_COLD, RC_FROZEN, RC_TIERS };

struct rc_tier {
	int level;
	const struct boa_model *model; /* NULL at levels that use none */
	int64_t age_ns;                /* untouched this long; -1: tier off */
};

struct fs_recompress {
	struct fs *fs;
	pthread_t threads[RC_THREADS_MAX];
	size_t nthreads;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stopping;
	int scanning;
	size_t cancelled; /* encodes and verifies that stopping cut short */
	struct rc_item queue[RC_BATCH];
	size_t qhead, qcount;
	uint64_t unwrapping[RC_THREADS_MAX]; /* files being unwrapped now (0: slot free) */
	uint64_t cursor_ino, cursor_block;   /* where the next scan starts */
	int64_t next_scan_ns, next_gc_ns;
	int64_t gc_interval_ns;
	int64_t cold_ns, scan_interval_ns;
	/* A pass: from the first scan that finds cold blocks to the first that finds none with
	 * nothing left in the queue or in the workers' hands. One log line at each end. */
	int pass_active;
	int64_t pass_started_ns;
	size_t working; /* items taken from the queue and not finished */
	struct rc_counts {
		uint64_t replaced, kept, failed, before_bytes, after_bytes;
	} pass;
	int enabled; /* recompression; compaction runs regardless */
	struct rc_tier tiers[RC_TIERS];
};

struct scan {
	struct fs_recompress *rc;
	struct idx_txn *t;
	uint64_t touched_ino; /* the inode touched_ns is for */
	int64_t touched_ns;   /* when it was last read: in memory or its stored atime */
	int64_t now;
	struct rc_item found[RC_BATCH];
	size_t count;
	uint64_t next_ino, next_block;
	int full;
	uint64_t files[RC_BATCH / 4]; /* files to try whole, queued now or earlier */
	size_t nfiles;
};

static int scan_step(void *arg, uint64_t ino, uint64_t block, const struct extent *e)
{
	struct scan *s = arg;
	int64_t need;
	int tier;

	if (s->count == RC_BATCH) {
		s->full = 1;
		return 1;
	}
	s->next_ino = ino;
	s->next_block = block + 1;
	if (e->flags & EXTENT_BOA_TRIED)
		return 0;
	if (codec_is_fast(e->codec))
		tier = RC_COLD;
	else if (e->codec == CODEC_BOA && !e->model_id && s->rc->tiers[RC_FROZEN].age_ns >= 0)
		tier = RC_FROZEN; /* coded without the Mamba (the cold tier's kind) */
	else
		return 0;
	need = s->rc->tiers[tier].age_ns;
	if (s->now - e->written_at_ns < need)
		return 0;
	/* The blocks of a file about to be tried whole (unwrapped) wait for that: recompressing
	 * them first would be wasted if it is unwrapped. */
	for (size_t i = 0; i < s->nfiles; i++)
		if (s->files[i] == ino)
			return 0;
	/* Cold means not written and not read: reads are noted in memory (fs_heat.h), and the
	 * atime that relatime or strictatime stored lazily carries them across mounts. */
	if (ino != s->touched_ino) {
		struct idx_inode a;

		s->touched_ino = ino;
		s->touched_ns = fs_heat_last_read(s->rc->fs->heat, ino);
		if (idx_inode_get(s->t, ino, &a) == 0 && a.atime_ns > s->touched_ns)
			s->touched_ns = a.atime_ns;
	}
	if (!need || s->now - s->touched_ns >= need)
		s->found[s->count++] = (struct rc_item){ino, block, *e, tier};
	return 0;
}

/* 1 if `ino` is queued or being unwrapped (caller holds rc->lock). */
static int file_busy(struct fs_recompress *rc, uint64_t ino)
{
	for (size_t i = 0; i < rc->qcount; i++) {
		const struct rc_item *q = &rc->queue[(rc->qhead + i) % RC_BATCH];

		if (q->block == RC_FILE && q->ino == ino)
			return 1;
	}
	for (size_t i = 0; i < RC_THREADS_MAX; i++)
		if (rc->unwrapping[i] == ino)
			return 1;
	return 0;
}

/* Whole cold files to try to unwrap go first: unwrapping replaces all of a file's blocks, so
 * recompressing them one by one before would be wasted. */
static void scan_files(struct fs_recompress *rc, struct scan *s)
{
	uint64_t inos[RC_BATCH / 4];
	size_t count = 0;

	if (fs_unwrap_candidates(rc->fs, rc->cold_ns, inos, RC_BATCH / 4, &count))
		return;
	pthread_mutex_lock(&rc->lock);
	for (size_t i = 0; i < count; i++)
		if (!file_busy(rc, inos[i]))
			s->found[s->count++] = (struct rc_item){.ino = inos[i], .block = RC_FILE};
	pthread_mutex_unlock(&rc->lock);
	memcpy(s->files, inos, count * sizeof(*inos));
	s->nfiles = count;
}

/* Walks the index from the cursor for up to RC_BATCH candidates, wrapping to the start once. */
static int scan(struct fs_recompress *rc, struct scan *s)
{
	struct idx_txn *t = NULL;
	int rc_, pass;

	memset(s, 0, sizeof(*s));
	s->rc = rc;
	s->now = fs_now_ns();
	if (!rc->enabled)
		return 0;
	scan_files(rc, s);
	for (pass = 0; pass < 2 && !s->full && s->count < RC_BATCH; pass++) {
		uint64_t from_ino = pass ? 0 : rc->cursor_ino;
		uint64_t from_block = pass ? 0 : rc->cursor_block;

		if (pass && rc->cursor_ino == 0 && rc->cursor_block == 0)
			break; /* the first pass already started at the beginning */
		rc_ = idx_read_begin(rc->fs->idx, &t);
		if (rc_)
			return rc_;
		s->t = t;
		s->touched_ino = 0;
		rc_ = idx_extent_each_from(t, from_ino, from_block, scan_step, s);
		idx_read_end(t);
		if (rc_ < 0)
			return rc_;
		if (s->full) {
			rc->cursor_ino = s->next_ino;
			rc->cursor_block = s->next_block;
		} else {
			rc->cursor_ino = rc->cursor_block = 0;
		}
	}
	return 0;
}

static int meta_add(struct idx_txn *t, const char *key, uint64_t add)
{
	uint64_t v = 0;
	int rc = idx_meta_get_u64(t, key, &v);

	if (rc && rc != -ENOENT)
		return rc;
	return idx_meta_put_u64(t, key, v + add);
}

/* Reads the item's extent into *now: 0 if it is still the one that was recompressed, or
 * FS_TXN_NOTHING if it was rewritten, truncated or replaced meanwhile (the newer extent wins). */
static int extent_unchanged(struct idx_txn *t, const struct rc_item *item, struct extent *now)
{
	int rc = idx_extent_get(t, item->ino, item->block, now);

	if (rc == -ENOENT)
		return FS_TXN_NOTHING;
	if (rc)
		return rc;
	if (now->segment != item->e.segment || now->offset != item->e.offset)
		return FS_TXN_NOTHING;
	return 0;
}

struct rc_replace {
	struct fs *fs;
	struct fs_node *n;
	const struct rc_item *item;
	const struct extent *fresh;
};

static int replace_txn(struct idx_txn *t, void *arg)
{
	struct rc_replace *r = arg;
	const struct rc_item *item = r->item;
	struct extent now;
	int64_t delta = 0;
	int rc;

	rc = extent_unchanged(t, item, &now);
	if (rc)
		return rc;
	rc = idx_extent_put(t, item->ino, item->block, r->fresh, &delta);
	if (!rc) {
		r->n->attr.stored_bytes = (uint64_t)((int64_t)r->n->attr.stored_bytes + delta);
		rc = fs_node_store_attr(t, r->n);
	}
	/* What the replaced records took and what their replacements take: the saving. */
	if (!rc)
		rc = meta_add(t, "recompress.before_bytes", now.record_len);
	if (!rc)
		rc = meta_add(t, "recompress.after_bytes", r->fresh->record_len);
	if (!rc)
		rc = fs_account_store(r->fs, t);
	return rc;
}

/* Replaces the extent if it is still `old`; the node lock keeps a flush of the same file out. */
static int commit_replace(struct fs *fs, const struct rc_item *item, const struct extent *fresh)
{
	struct rc_replace r = {.fs = fs, .item = item, .fresh = fresh};
	int rc;

	rc = fs_node_get(fs, item->ino, &r.n);
	if (rc)
		return rc == -ENOENT ? 0 : rc; /* the file is gone: nothing to replace */
	pthread_rwlock_wrlock(&r.n->lock);
	rc = fs_txn_run(fs, &r.n, 1, replace_txn, &r);
	pthread_rwlock_unlock(&r.n->lock);
	fs_node_put(fs, r.n);
	return rc;
}

struct rc_mark {
	struct fs *fs;
	const struct rc_item *item;
};

static int mark_txn(struct idx_txn *t, void *arg)
{
	struct rc_mark *m = arg;
	const struct rc_item *item = m->item;
	struct extent now;
	int rc;

	rc = extent_unchanged(t, item, &now);
	if (rc)
		return rc;
	now.flags |= EXTENT_BOA_TRIED;
	rc = idx_extent_put(t, item->ino, item->block, &now, NULL);
	if (!rc)
		rc = fs_account_store(m->fs, t);
	return rc;
}

/* Remembers that BOA did not shrink this block, unless the extent changed meanwhile. */
static int mark_tried(struct fs *fs, const struct rc_item *item)
{
	struct rc_mark m = {fs, item};

	return fs_txn_run(fs, NULL, 0, mark_txn, &m);
}

struct rc_buffers {
	uint8_t *payload, *raw, *encoded, *check;
	struct boa_ctx *boa; /* this worker's own; cancelled by fs_recompress_stop */
};

/* BOA costs far more CPU to decode than zstd: it has to save at least 1/32 of what is stored,
 * and a block kept raw must shrink by 1/8, the rule that kept it raw in the first place. */
static int worth_it(const struct extent *e, size_t encoded_len, int tier)
{
	/* Frozen data is read least: any saving of 1/256 or more is worth the slower decoding. */
	if (tier == RC_FROZEN)
		return encoded_len < e->stored_len - e->stored_len / 256;
	if (e->codec == CODEC_RAW && encoded_len > e->raw_len - e->raw_len / 8)
		return 0;
	return encoded_len + encoded_len / 32 < e->stored_len;
}

enum rc_outcome { RC_NONE, RC_REPLACED, RC_KEPT };

static int recompress_one(struct fs_recompress *rc, struct rc_buffers *b,
                          const struct rc_item *item, enum rc_outcome *outcome,
                          uint64_t *after_bytes)
{
	struct fs *fs = rc->fs;
	const struct extent *e = &item->e;
	struct seg_record_info info = {0};
	struct extent fresh;
	const struct rc_tier *tier = &rc->tiers[item->tier];
	struct codec_args args = {.model = tier->model, .level = tier->level, .boa = b->boa};
	size_t encoded_len = 0;
	int64_t cpu;
	int err;

	pthread_rwlock_rdlock(&fs->seg_remove_lock);
	err = seg_record_read(fs->seg, e, b->payload, e->stored_len);
	pthread_rwlock_unlock(&fs->seg_remove_lock);
	if (!err)
		err = fs_payload_decode(fs, item->ino, item->block, e, b->payload, b->raw);
	if (err)
		return err; /* logged; reads and fsck report the block */
	cpu = fs_thread_cpu_ns();
	err = codec_encode(fs->codec, CODEC_BOA, &args, b->raw, e->raw_len, b->encoded,
	                   boa_bound(fs->opt.block_size), &encoded_len);
	fs_account(fs, CODEC_BOA, FS_CPU_ENCODE, fs_thread_cpu_ns() - cpu, e->raw_len);
	if (err)
		return err; /* -ECANCELED: unmounting; the block stays as it is */
	if (__atomic_load_n(&rc->stopping, __ATOMIC_RELAXED))
		return 0; /* unmounting: no verify, no commit */
	if (!worth_it(e, encoded_len, item->tier)) {
		*outcome = RC_KEPT;
		return mark_tried(fs, item);
	}
	/* Prove the encoding before it replaces anything: decode it and compare. */
	cpu = fs_thread_cpu_ns();
	err = codec_decode(fs->codec, CODEC_BOA, &args, b->encoded, encoded_len, b->check,
	                   e->raw_len);
	fs_account(fs, CODEC_BOA, FS_CPU_DECODE, fs_thread_cpu_ns() - cpu, e->raw_len);
	if (err == -ECANCELED)
		return err;
	if (__atomic_load_n(&rc->stopping, __ATOMIC_RELAXED))
		return 0;
	if (err || memcmp(b->check, b->raw, e->raw_len)) {
		fs_log("inode %llu block %llu: BOA level %d did not decode back to the block; kept "
		       "as %s",
		       (unsigned long long)item->ino, (unsigned long long)item->block, tier->level,
		       codec_name(e->codec));
		return mark_tried(fs, item);
	}
	info.codec = CODEC_BOA;
	info.model_id = tier->model ? boa_model_id(tier->model) : 0;
	info.raw_len = e->raw_len;
	info.raw_xxh64 = e->raw_xxh64;
	info.ino = item->ino;
	info.block = item->block;
	err = seg_append(fs->seg, &info, b->encoded, (uint32_t)encoded_len, &fresh);
	if (err)
		return err;
	fresh.written_at_ns = e->written_at_ns; /* the data's age, which the frozen tier counts */
	err = seg_sync(fs->seg);
	if (!err)
		err = commit_replace(fs, item, &fresh);
	seg_settle(fs->seg, &fresh);
	if (!err) {
		*outcome = RC_REPLACED;
		*after_bytes = fresh.record_len;
	}
	return err;
}

/* Background compaction: segments at least half dead are compacted; the open segment too,
 * once it holds a few MiB and is mostly dead (files deleted or rewritten), by ending it first.
 * This is what gives the space of deleted files back. */
static void compact(struct fs *fs)
{
	struct fs_gc_report report;
	struct idx_segment_usage u = {0, 0};
	struct idx_txn *t = NULL;
	uint64_t tail = seg_tail(fs->seg), size = 0;

	if (!seg_size(fs->seg, tail, &size) && size >= FS_GC_TAIL_MIN &&
	    !idx_read_begin(fs->idx, &t)) {
		if (idx_segment_get(t, tail, &u) == -ENOENT)
			u.live_bytes = 0;
		idx_read_end(t);
		if (u.live_bytes * 2 < size)
			seg_roll(fs->seg);
	}
	if (fs_gc(fs, 0.5, &report))
		return;
	if (report.segments_failed && fs_reserve_release(fs) == 0) {
		/* Out of space to copy live records into: spend the reserve, then take it back
		 * from what compaction freed. */
		struct fs_gc_report again;

		if (!fs_gc(fs, 0.5, &again)) {
			report.segments_removed += again.segments_removed;
			report.bytes_moved += again.bytes_moved;
			report.bytes_freed += again.bytes_freed;
		}
		fs_reserve_take(fs);
	}
	if (report.segments_removed)
		fs_log("gc: %llu segments compacted, %llu bytes moved, %llu bytes freed",
		       (unsigned long long)report.segments_removed,
		       (unsigned long long)report.bytes_moved,
		       (unsigned long long)report.bytes_freed);
}

/* Share of a segment's bytes that compaction after a pass leaves dead at most: the superseded
 * records of a pass sit in segments that never reach the background threshold (one half), and
 * the archive on disk should come within about this much of its live bytes. */
#define FS_GC_AFTER_PASS 0.1

/* Compaction follows recompression: every segment whose records a pass superseded by at
 * least FS_GC_AFTER_PASS is compacted, the open one included (ended first). */
static void compact_after_pass(struct fs *fs)
{
	struct fs_gc_report report;
	struct idx_segment_usage u = {0, 0};
	struct idx_txn *t = NULL;
	uint64_t tail = seg_tail(fs->seg), size = 0;

	if (!seg_size(fs->seg, tail, &size) && size && !idx_read_begin(fs->idx, &t)) {
		if (idx_segment_get(t, tail, &u) == -ENOENT)
			u.live_bytes = 0;
		idx_read_end(t);
		if (u.live_bytes < size && (double)(size - u.live_bytes) >= FS_GC_AFTER_PASS * size)
			seg_roll(fs->seg);
	}
	if (fs_gc(fs, FS_GC_AFTER_PASS, &report))
		return;
	fs_log("gc after recompression: %llu segments compacted, %llu bytes moved, %llu bytes "
	       "freed",
	       (unsigned long long)report.segments_removed, (unsigned long long)report.bytes_moved,
	       (unsigned long long)report.bytes_freed);
}

/* rc->lock held. */
static void pass_start(struct fs_recompress *rc)
{
	rc->pass_active = 1;
	rc->pass_started_ns = fs_now_ns();
	memset(&rc->pass, 0, sizeof(rc->pass));
	fs_log(
	    "recompression pass started: blocks not written or read for %llu s to BOA level %d%s",
	    (unsigned long long)(rc->cold_ns / 1000000000), rc->tiers[RC_COLD].level,
	    rc->tiers[RC_FROZEN].age_ns >= 0 ? ", frozen ones to the frozen level" : "");
}

/* rc->lock not held; only the scanning thread ends a pass. */
static void pass_end(struct fs_recompress *rc)
{
	struct rc_counts c;
	int64_t took;

	pthread_mutex_lock(&rc->lock);
	c = rc->pass;
	took = fs_now_ns() - rc->pass_started_ns;
	rc->pass_active = 0;
	pthread_mutex_unlock(&rc->lock);
	fs_log("recompression pass done in %.1f s: %llu blocks recompressed (%llu -> %llu bytes), "
	       "%llu kept as they were (BOA not smaller), %llu failed",
	       (double)took / 1e9, (unsigned long long)c.replaced,
	       (unsigned long long)c.before_bytes, (unsigned long long)c.after_bytes,
	       (unsigned long long)c.kept, (unsigned long long)c.failed);
	if (c.replaced)
		compact_after_pass(rc->fs);
}

static void *recompress_main(void *arg)
{
	struct fs_recompress *rc = arg;
	struct fs *fs = rc->fs;
	struct rc_buffers b;
	size_t bs = fs->opt.block_size;

	/* Foreground requests keep the CPU: at nice 19 this thread gets about 1/70 of a core
	 * against each busy normal thread (SCHED_IDLE would starve it on a loaded machine). */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 19))
		fs_log("recompression thread: cannot lower its priority: %s", strerror(errno));
	b.payload = malloc(codec_bound(bs) > boa_bound(bs) ? codec_bound(bs) : boa_bound(bs));
	b.raw = malloc(bs);
	b.encoded = malloc(boa_bound(bs));
	b.check = malloc(bs);
	b.boa = NULL;
	if (boa_ctx_new(&b.boa) == 0)
		boa_ctx_set_cancel(b.boa, &rc->stopping);
	pthread_mutex_lock(&rc->lock);
	while (!rc->stopping) {
		if (rc->qcount) {
			struct rc_item item = rc->queue[rc->qhead];
			enum rc_outcome outcome = RC_NONE;
			uint64_t after = 0;
			size_t slot = RC_THREADS_MAX;
			int err;

			rc->qhead = (rc->qhead + 1) % RC_BATCH;
			rc->qcount--;
			if (item.block == RC_FILE)
				for (slot = 0; slot < RC_THREADS_MAX && rc->unwrapping[slot];
				     slot++)
					;
			if (slot < RC_THREADS_MAX)
				rc->unwrapping[slot] = item.ino;
			rc->working++;
			pthread_mutex_unlock(&rc->lock);
			if (item.block == RC_FILE)
				err = fs_unwrap_transform(fs, item.ino, &rc->stopping, b.boa);
			else
				err = b.payload && b.raw && b.encoded && b.check && b.boa
				          ? recompress_one(rc, &b, &item, &outcome, &after)
				          : -ENOMEM;
			if (slot < RC_THREADS_MAX) {
				pthread_mutex_lock(&rc->lock);
				rc->unwrapping[slot] = 0;
				pthread_mutex_unlock(&rc->lock);
			}
			if (err && err != -EIO && err != -ECANCELED && item.block == RC_FILE)
				fs_log("inode %llu: unwrapping failed: %s",
				       (unsigned long long)item.ino, strerror(-err));
			else if (err && err != -EIO && err != -ECANCELED)
				fs_log("inode %llu block %llu: recompression failed: %s",
				       (unsigned long long)item.ino, (unsigned long long)item.block,
				       strerror(-err));
			pthread_mutex_lock(&rc->lock);
			rc->working--;
			if (err == -ECANCELED)
				rc->cancelled++;
			else if (err)
				rc->pass.failed++;
			else if (outcome == RC_REPLACED) {
				rc->pass.replaced++;
				rc->pass.before_bytes += item.e.record_len;
				rc->pass.after_bytes += after;
			} else if (outcome == RC_KEPT)
				rc->pass.kept++;
			continue;
		}
		if (!rc->scanning && fs_now_ns() >= rc->next_scan_ns) {
			struct scan *s = malloc(sizeof(*s));
			int err;

			rc->scanning = 1;
			pthread_mutex_unlock(&rc->lock);
			err = s ? scan(rc, s) : -ENOMEM;
			pthread_mutex_lock(&rc->lock);
			rc->scanning = 0;
			if (!err) {
				for (size_t i = 0; i < s->count; i++)
					rc->queue[(rc->qhead + rc->qcount++) % RC_BATCH] =
					    s->found[i];
				if (s->count)
					pthread_cond_broadcast(&rc->wake);
				if (s->count && !rc->pass_active)
					pass_start(rc);
				else if (!s->count && rc->pass_active && !rc->qcount &&
				         !rc->working) {
					pthread_mutex_unlock(&rc->lock);
					pass_end(rc);
					pthread_mutex_lock(&rc->lock);
				}
			}
			if (err || !s->count || !s->full)
				rc->next_scan_ns = fs_now_ns() + rc->scan_interval_ns;
			if (!err && !s->count && fs_now_ns() >= rc->next_gc_ns) {
				/* Nothing to recompress: a good time to compact. */
				rc->next_gc_ns = fs_now_ns() + rc->gc_interval_ns;
				pthread_mutex_unlock(&rc->lock);
				compact(fs);
				pthread_mutex_lock(&rc->lock);
			}
			free(s);
			continue;
		}
		{
			int64_t wait_ns = rc->next_scan_ns - fs_now_ns();
			struct timespec until;

			if (wait_ns < 1000000)
				wait_ns = 1000000;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += wait_ns / 1000000000;
			until.tv_nsec += wait_ns % 1000000000;
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&rc->wake, &rc->lock, &until);
		}
	}
	pthread_mutex_unlock(&rc->lock);
	free(b.payload);
	free(b.raw);
	free(b.encoded);
	free(b.check);
	boa_ctx_free(b.boa);
	return NULL;
}

int fs_recompress_start(struct fs *fs)
{
	struct fs_recompress *rc;
	int err, uses;

	if (fs->opt.read_only)
		return 0;
	rc = calloc(1, sizeof(*rc));
	if (!rc)
		return -ENOMEM;
	rc->fs = fs;
	rc->enabled = fs->opt.recompress != FS_RECOMPRESS_OFF;
	for (int i = 0; i < RC_TIERS; i++) {
		struct rc_tier *tier = &rc->tiers[i];

		tier->level = i == RC_COLD ? fs->opt.boa_level : fs->opt.frozen_level;
		if (i == RC_FROZEN && !tier->level)
			continue; /* no frozen tier */
		uses = boa_level_uses_model(tier->level);
		if (uses < 0) {
			free(rc);
			return -EINVAL;
		}
		if (uses && rc->enabled && fs_model_current(fs, &tier->model)) {
			fs_log("no model installed for BOA level %d; using level %d (no Mamba)",
			       tier->level, FS_BOA_LEVEL_COLD_DEFAULT);
			tier->level = FS_BOA_LEVEL_COLD_DEFAULT;
			tier->model = NULL;
		}
	}
	if (fs->opt.recompress == FS_RECOMPRESS_NOW) {
		rc->cold_ns = 0;
		rc->scan_interval_ns = 1000000000ll;
	} else {
		rc->cold_ns = (int64_t)fs->opt.cold_seconds * 1000000000ll;
		rc->scan_interval_ns = rc->cold_ns / 10;
		if (rc->scan_interval_ns < 1000000000ll)
			rc->scan_interval_ns = 1000000000ll;
		if (rc->scan_interval_ns > 60000000000ll)
			rc->scan_interval_ns = 60000000000ll;
	}
	rc->tiers[RC_COLD].age_ns = rc->cold_ns;
	/* The frozen tier recodes what the cold tier coded without the Mamba, with it: off when
	 * the cold tier uses the Mamba already or the frozen one does not; never sooner than cold.
	 */
	rc->tiers[RC_FROZEN].age_ns = -1;
	if (fs->opt.frozen_level && !rc->tiers[RC_COLD].model && rc->tiers[RC_FROZEN].model &&
	    fs->opt.frozen_seconds) {
		rc->tiers[RC_FROZEN].age_ns = (int64_t)fs->opt.frozen_seconds * 1000000000ll;
		if (rc->tiers[RC_FROZEN].age_ns < rc->cold_ns)
			rc->tiers[RC_FROZEN].age_ns = rc->cold_ns;
	}
	rc->gc_interval_ns = fs->opt.recompress == FS_RECOMPRESS_NOW ? 2000000000ll : 10000000000ll;
	{
		/* Test hook: compaction every few hundred ms makes its races with writers likely.
		 */
		const char *ms = getenv("BOAFS_GC_INTERVAL_MS");

		if (ms && *ms && strtoll(ms, NULL, 10) > 0)
			rc->gc_interval_ns = strtoll(ms, NULL, 10) * 1000000ll;
	}
	if (!rc->enabled)
		rc->scan_interval_ns = rc->gc_interval_ns;
	pthread_mutex_init(&rc->lock, NULL);
	pthread_cond_init(&rc->wake, NULL);
	fs->recompress = rc;
	/* With recompression off, one worker still compacts segments. */
	for (size_t i = 0; i < (rc->enabled ? fs->opt.threads : 1) && i < RC_THREADS_MAX; i++) {
		err = pthread_create(&rc->threads[i], NULL, recompress_main, rc);
		if (err) {
			fs_recompress_stop(fs);
			return -err;
		}
		rc->nthreads++;
	}
	return 0;
}

void fs_recompress_stop(struct fs *fs)
{
	struct fs_recompress *rc = fs->recompress;

	if (!rc)
		return;
	pthread_mutex_lock(&rc->lock);
	__atomic_store_n(&rc->stopping, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&rc->wake);
	pthread_mutex_unlock(&rc->lock);
	for (size_t i = 0; i < rc->nthreads; i++)
		pthread_join(rc->threads[i], NULL);
	if (rc->cancelled)
		fs_log(
		    "recompression stopped: %zu encodes cut short, their blocks left as they were",
		    rc->cancelled);
	pthread_mutex_destroy(&rc->lock);
	pthread_cond_destroy(&rc->wake);
	free(rc);
	fs->recompress = NULL;
}
