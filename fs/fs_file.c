/* File data: reads through dirty blocks and the block cache, writes into dirty blocks, and the
 * flush that turns dirty blocks into records and one index transaction.
 *
 * Invariant: the bytes of a block past the end of the file are zero, in memory and in records
 * (a record stores only the part of its block before EOF; truncate down rewrites the block that
 * holds the new EOF), so extending a file never exposes old data. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "codec.h"
#include "fs.h"
#include "fs_account.h"
#include "fs_block.h"
#include "fs_cache.h"
#include "fs_file.h"
#include "fs_heat.h"
#include "fs_log.h"
#include "fs_node.h"
#include "fs_prefetch.h"
#include "fs_txn.h"
#include "fs_unwrap.h"

/* Dirty blocks kept per file before a write flushes them: large enough to batch one index
 * transaction per 64 blocks, small enough to bound memory per writer. */
#define FS_DIRTY_MAX 64
/* Upper bound on the threads one flush encodes with. */
#define FS_ENCODERS_MAX 8

static int all_zero(const uint8_t *p, size_t len)
{
	static const uint8_t zeros[256];

	while (len >= sizeof(zeros)) {
		if (memcmp(p, zeros, sizeof(zeros)))
			return 0;
		p += sizeof(zeros);
		len -= sizeof(zeros);
	}
	return memcmp(p, zeros, len) == 0;
}

int fs_block_load(struct fs *fs, uint64_t ino, uint64_t block, uint8_t *buf)
{
	int rc = fs_block_read(fs, ino, block, buf);

	if (rc == -ENOENT) {
		/* No extent: a hole, or a block of a file stored unwrapped (which reads its stream
		 * blocks with fs_block_read, outside seg_remove_lock). */
		rc = fs_unwrap_block_load(fs, ino, block, buf);
		if (rc == -ENOENT) {
			memset(buf, 0, fs->opt.block_size);
			rc = 0;
		}
	}
	return rc;
}

static struct fs_dirty *dirty_find(struct fs_node *n, uint64_t block)
{
	for (size_t i = 0; i < n->ndirty; i++)
		if (n->dirty[i].block == block)
			return &n->dirty[i];
	return NULL;
}

/* The dirty copy of `block`, made from the stored block unless the caller overwrites all of it. */
static int dirty_get(struct fs *fs, struct fs_node *n, uint64_t block, int whole,
                     struct fs_dirty **out)
{
	uint32_t bs = fs->opt.block_size;
	struct fs_dirty *d = dirty_find(n, block);
	uint8_t *data;
	int rc;

	if (d) {
		*out = d;
		return 0;
	}
	if (n->ndirty == n->dirty_cap) {
		size_t cap = n->dirty_cap ? n->dirty_cap * 2 : 8;
		struct fs_dirty *bigger = realloc(n->dirty, cap * sizeof(*bigger));

		if (!bigger)
			return -ENOMEM;
		n->dirty = bigger;
		n->dirty_cap = cap;
	}
	data = malloc(bs);
	if (!data)
		return -ENOMEM;
	if (whole || block * bs >= n->attr.size) {
		memset(data, 0, bs);
	} else {
		rc = fs_block_load(fs, n->ino, block, data);
		if (rc) {
			free(data);
			return rc;
		}
	}
	d = &n->dirty[n->ndirty++];
	d->block = block;
	d->data = data;
	*out = d;
	return 0;
}

static void dirty_drop_from(struct fs_node *n, uint64_t first)
{
	size_t kept = 0;

	for (size_t i = 0; i < n->ndirty; i++) {
		if (n->dirty[i].block >= first)
			free(n->dirty[i].data);
		else
			n->dirty[kept++] = n->dirty[i];
	}
	n->ndirty = kept;
}

/* A day, as Linux's relatime: an atime older than this is refreshed by the next read. */
#define FS_RELATIME_NS (24ll * 3600 * 1000000000)

/* Whether a read at `now` moves the file's atime, as the mount option says. Node lock held. */
static int atime_due(const struct fs *fs, const struct fs_node *n, int64_t now)
{
	const struct idx_inode *a = &n->attr;
	int64_t atime = fs_node_atime(n);

	if (fs->opt.read_only || fs->opt.atime == FS_ATIME_NOATIME || !S_ISREG(a->mode) ||
	    now <= atime)
		return 0;
	return fs->opt.atime == FS_ATIME_STRICT || atime <= a->mtime_ns || atime <= a->ctime_ns ||
	       now - atime >= FS_RELATIME_NS;
}

void fs_file_accessed(struct fs *fs, struct fs_node *n)
{
	int64_t now = fs_now_ns();

	fs_heat_note(fs->heat, n->ino, now);
	/* Recorded with the node's lock held shared, never exclusively: read-ahead workers hold
	 * it shared for a whole block decode (a tenth of a second for BOA), and a reader that
	 * asked for it exclusively (every read with strictatime) would wait for them before its
	 * reply, while its next read, and so the next read-ahead, waits for that reply. Only in
	 * memory: the time goes to the index with the next flush (close, fsync, unmount), so a
	 * read never costs an index write of its own. */
	pthread_rwlock_rdlock(&n->lock);
	if (atime_due(fs, n, now))
		fs_node_atime_note(n, now);
	pthread_rwlock_unlock(&n->lock);
}

/* Whether a read of blocks [first, last] continues a sequential reader, noting where it ends.
 * Judged when the read arrives, not when it is answered: the kernel sends its read-ahead as
 * several reads at once, which FUSE threads answer in any order (a BOA block decoded by the
 * thread itself takes longer than one a worker has ready), so an order of completion would
 * take a reader for random a block at a time. Arrivals can still swap by one (two FUSE threads
 * take two requests at the same moment), hence the one block of slack either way. A read that
 * continues never moves the mark back; any other read sets it, so a second pass from the start
 * is sequential again. */
static int sequential(struct fs_node *n, uint64_t first, uint64_t last)
{
	uint64_t expected = __atomic_load_n(&n->next_sequential_block, __ATOMIC_RELAXED);
	int seq = first + 2 >= expected && first <= expected + 1;

	for (;;) {
		uint64_t next = seq && expected > last + 1 ? expected : last + 1;

		if (next == expected ||
		    __atomic_compare_exchange_n(&n->next_sequential_block, &expected, next, 0,
		                                __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return seq;
	}
}

/* Asks the read-ahead workers for the blocks after `last` (the pool bounds how many per file). */
static void read_ahead(struct fs *fs, struct fs_node *n, uint64_t last)
{
	uint64_t bs = fs->opt.block_size;

	for (size_t k = 1; k <= fs_prefetch_depth(fs); k++)
		if ((last + k) * bs < n->attr.size)
			fs_prefetch_request(fs, n->ino, last + k);
}

int fs_file_read(struct fs *fs, struct fs_node *n, uint64_t off, size_t len, uint8_t *buf,
                 size_t *got)
{
	uint32_t bs = fs->opt.block_size;
	uint8_t *bounce = NULL;
	uint64_t last_block;
	size_t done = 0;
	int rc = 0, seq;

	pthread_rwlock_rdlock(&n->lock);
	if (n->damaged) {
		rc = -EIO;
		goto out;
	}
	if (off >= n->attr.size)
		goto out;
	if (len > n->attr.size - off)
		len = n->attr.size - off;
	last_block = (off + len - 1) / bs;
	/* A sequential reader: the workers decode the blocks ahead while this thread reads (or
	 * decodes) its own. Asked before, not only after: then a worker is never idle while this
	 * read waits, nor while the reply travels and the next read comes. */
	seq = sequential(n, off / bs, last_block);
	if (seq)
		read_ahead(fs, n, last_block);
	while (done < len) {
		uint64_t block = (off + done) / bs;
		size_t in_block = (off + done) % bs;
		size_t chunk = bs - in_block;
		struct fs_dirty *d;

		if (chunk > len - done)
			chunk = len - done;
		d = dirty_find(n, block);
		if (d) {
			memcpy(buf + done, d->data + in_block, chunk);
		} else if (chunk == bs) {
			rc = fs_block_load(fs, n->ino, block, buf + done);
		} else {
			if (!bounce)
				bounce = malloc(bs);
			if (!bounce) {
				rc = -ENOMEM;
				break;
			}
			rc = fs_block_load(fs, n->ino, block, bounce);
			if (!rc)
				memcpy(buf + done, bounce + in_block, chunk);
		}
		if (rc)
			break;
		done += chunk;
	}
	/* Again now: the workers may have finished blocks of the window while this one loaded. */
	if (!rc && seq)
		read_ahead(fs, n, last_block);
out:
	pthread_rwlock_unlock(&n->lock);
	free(bounce);
	*got = done;
	if (!rc && done)
		fs_file_accessed(fs, n);
	/* A damaged block fails the whole request: a short reply would read as end of file. */
	return rc;
}

int fs_file_write(struct fs *fs, struct fs_node *n, uint64_t off, const uint8_t *buf, size_t len)
{
	uint32_t bs = fs->opt.block_size;
	size_t done = 0;
	int rc = 0;

	pthread_rwlock_wrlock(&n->lock);
	if (len)
		rc = fs_unwrap_revert_locked(fs, n); /* plain blocks first, for a file unwrapped */
	while (done < len && !rc) {
		uint64_t block = (off + done) / bs;
		size_t in_block = (off + done) % bs;
		size_t chunk = bs - in_block;
		struct fs_dirty *d;

		if (chunk > len - done)
			chunk = len - done;
		if (n->ndirty >= FS_DIRTY_MAX && !dirty_find(n, block)) {
			rc = fs_file_flush_locked(fs, n);
			if (rc)
				break;
		}
		rc = dirty_get(fs, n, block, chunk == bs, &d);
		if (rc)
			break;
		memcpy(d->data + in_block, buf + done, chunk);
		done += chunk;
		if (off + done > n->attr.size)
			n->attr.size = off + done;
		n->attr.mtime_ns = n->attr.ctime_ns = fs_now_ns();
		n->attr_dirty = 1;
	}
	pthread_rwlock_unlock(&n->lock);
	return rc;
}

static int cmp_dirty(const void *a, const void *b)
{
	const struct fs_dirty *x = a, *y = b;

	return x->block < y->block ? -1 : x->block > y->block;
}

enum flush_action { FLUSH_PUT, FLUSH_HOLE, FLUSH_SKIP };

/* One encoder's share of a flush: blocks first, first + stride, ... of the sorted dirty list. */
struct encode_job {
	struct fs *fs;
	struct fs_node *n;
	size_t first, stride;
	uint8_t *actions;
	struct extent *extents;
	int rc;
};

static void *encode_blocks(void *arg)
{
	struct encode_job *job = arg;
	struct fs *fs = job->fs;
	struct fs_node *n = job->n;
	uint32_t bs = fs->opt.block_size;
	uint8_t *payload = malloc(codec_bound(bs));

	job->rc = 0;
	if (!payload) {
		job->rc = -ENOMEM;
		goto out;
	}
	for (size_t i = job->first; i < n->ndirty; i += job->stride) {
		struct fs_dirty *d = &n->dirty[i];
		uint64_t start = d->block * bs;
		struct seg_record_info info = {0};
		size_t raw_len, stored_len;
		int64_t cpu;

		if (start >= n->attr.size) {
			job->actions[i] = FLUSH_SKIP; /* truncated away; the extent goes with it */
			continue;
		}
		raw_len = n->attr.size - start < bs ? n->attr.size - start : bs;
		if (all_zero(d->data, raw_len)) {
			job->actions[i] = FLUSH_HOLE;
			continue;
		}
		job->actions[i] = FLUSH_PUT;
		cpu = fs_thread_cpu_ns();
		job->rc = codec_encode_fast(fs->codec, d->data, raw_len, payload, &stored_len,
		                            &info.codec);
		if (job->rc)
			goto out;
		fs_account(fs, CODEC_ZSTD, FS_CPU_ENCODE, fs_thread_cpu_ns() - cpu, raw_len);
		info.raw_len = raw_len;
		info.raw_xxh64 = XXH64(d->data, raw_len, 0);
		info.ino = n->ino;
		info.block = d->block;
		job->rc = seg_append(fs->seg, &info, payload, stored_len, &job->extents[i]);
		if (job->rc) {
			fs_log("inode %llu block %llu: cannot append record: %s",
			       (unsigned long long)n->ino, (unsigned long long)d->block,
			       strerror(-job->rc));
			goto out;
		}
	}
out:
	free(payload);
	return NULL;
}

/* Encodes and appends every dirty block, on up to fs->ncpu threads: a large flush is
 * compression-bound, and each block is independent. */
static int encode_dirty(struct fs *fs, struct fs_node *n, uint8_t *actions, struct extent *extents)
{
	struct encode_job jobs[FS_ENCODERS_MAX];
	pthread_t threads[FS_ENCODERS_MAX];
	size_t count = fs->ncpu, started = 1;
	int rc;

	if (count > FS_ENCODERS_MAX)
		count = FS_ENCODERS_MAX;
	if (count > n->ndirty / 4)
		count = n->ndirty / 4 ? n->ndirty / 4 : 1;
	for (size_t j = 0; j < count; j++)
		jobs[j] = (struct encode_job){fs, n, j, count, actions, extents, 0};
	for (; started < count; started++)
		if (pthread_create(&threads[started], NULL, encode_blocks, &jobs[started]))
			break;
	/* A helper that could not start leaves its share to this thread. */
	for (size_t j = started; j < count; j++) {
		jobs[j].first = j;
		encode_blocks(&jobs[j]);
	}
	encode_blocks(&jobs[0]);
	for (size_t j = 1; j < started; j++)
		pthread_join(threads[j], NULL);
	rc = 0;
	for (size_t j = 0; j < count && !rc; j++)
		rc = jobs[j].rc;
	return rc;
}

struct flush_op {
	struct fs *fs;
	struct fs_node *n;
	const uint8_t *actions;
	const struct extent *extents;
	uint64_t truncate_from;
	struct idx_inode attr; /* out: the attributes committed */
};

static int flush_body(struct idx_txn *t, void *arg)
{
	struct flush_op *op = arg;
	struct fs_node *n = op->n;
	int64_t delta = 0;
	int rc = 0;

	op->attr = n->attr;
	for (size_t i = 0; i < n->ndirty && !rc; i++) {
		int64_t d = 0;

		if (op->actions[i] == FLUSH_PUT)
			rc = idx_extent_put(t, n->ino, n->dirty[i].block, &op->extents[i], &d);
		else if (op->actions[i] == FLUSH_HOLE) {
			rc = idx_extent_del(t, n->ino, n->dirty[i].block, &d);
			if (rc == -ENOENT)
				rc = 0;
		}
		delta += d;
	}
	if (!rc && op->truncate_from != UINT64_MAX) {
		int64_t d = 0;

		rc = idx_extent_del_from(t, n->ino, op->truncate_from, &d);
		if (rc == -ENOENT)
			rc = 0;
		delta += d;
	}
	if (!rc) {
		op->attr.stored_bytes = (uint64_t)((int64_t)op->attr.stored_bytes + delta);
		rc = idx_inode_put(t, &op->attr);
	}
	if (!rc)
		rc = fs_account_store(op->fs, t);
	return rc;
}

/* Writes the dirty blocks as records, then commits their extents, the deletion of blocks from
 * `truncate_from` on (UINT64_MAX: none), and the attributes in one transaction. The records are
 * on stable storage before the transaction that points at them commits. On failure nothing in
 * memory changes, so a later flush can try again. */
static int flush(struct fs *fs, struct fs_node *n, uint64_t truncate_from)
{
	struct extent *extents = NULL;
	uint8_t *actions = NULL;
	struct flush_op op;
	size_t ndirty = n->ndirty;
	int rc = 0;

	fs_node_atime_fold(n); /* reads' atime goes to the index with the rest */
	if (!n->ndirty && !n->attr_dirty && truncate_from == UINT64_MAX)
		return 0;
	if (n->ndirty > 1)
		qsort(n->dirty, n->ndirty, sizeof(*n->dirty), cmp_dirty);
	extents = calloc(n->ndirty + 1, sizeof(*extents));
	actions = calloc(n->ndirty + 1, 1);
	if (!extents || !actions) {
		rc = -ENOMEM;
		goto out;
	}
	rc = encode_dirty(fs, n, actions, extents);
	if (rc)
		goto out;
	rc = seg_sync(fs->seg);
	if (rc)
		goto out;
	op = (struct flush_op){fs, n, actions, extents, truncate_from, {0}};
	rc = fs_txn_run(fs, NULL, 0, flush_body, &op);
	if (rc) {
		fs_log("inode %llu: index update failed: %s", (unsigned long long)n->ino,
		       strerror(-rc));
		goto out;
	}
	n->attr = op.attr;
	n->attr_dirty = 0;
	if (truncate_from != UINT64_MAX)
		fs_cache_invalidate(fs->cache, n->ino, truncate_from);
	for (size_t i = 0; i < n->ndirty; i++) {
		if (actions[i] != FLUSH_SKIP)
			fs_cache_put(fs->cache, n->ino, n->dirty[i].block, n->dirty[i].data);
		free(n->dirty[i].data);
	}
	n->ndirty = 0;
out:
	/* Committed or given up: gc may judge these records by the index now. */
	for (size_t i = 0; extents && i < ndirty; i++)
		seg_settle(fs->seg, &extents[i]);
	free(extents);
	free(actions);
	return rc;
}

int fs_file_flush_locked(struct fs *fs, struct fs_node *n)
{
	return flush(fs, n, UINT64_MAX);
}

int fs_file_flush(struct fs *fs, struct fs_node *n)
{
	int rc;

	pthread_rwlock_wrlock(&n->lock);
	rc = flush(fs, n, UINT64_MAX);
	pthread_rwlock_unlock(&n->lock);
	return rc;
}

int fs_file_truncate_locked(struct fs *fs, struct fs_node *n, uint64_t size)
{
	uint32_t bs = fs->opt.block_size;
	uint64_t old = n->attr.size, first_gone = UINT64_MAX;
	struct fs_dirty *d;
	int rc;

	if (size > FS_FILE_SIZE_MAX)
		return -EFBIG; /* as ext4 past s_maxbytes */
	/* A file stored unwrapped goes back to plain blocks first. */
	rc = fs_unwrap_revert_locked(fs, n);
	if (rc)
		return rc;
	/* Commit pending writes first: then every dirty block dropped below is also on disk,
	 * and a failure can put memory back as it was. */
	rc = flush(fs, n, UINT64_MAX);
	if (rc)
		return rc;
	if (size < old) {
		first_gone = (size + bs - 1) / bs;
		dirty_drop_from(n, first_gone);
		if (size % bs) {
			rc = dirty_get(fs, n, size / bs, 0, &d);
			if (rc)
				return rc;
			memset(d->data + size % bs, 0, bs - size % bs);
		}
	}
	n->attr.size = size;
	n->attr_dirty = 1;
	rc = flush(fs, n, first_gone);
	if (rc) {
		/* The size change did not happen; the only dirty block is the zeroed copy of the
		 * new last block, which storage still has as it was. */
		dirty_drop_from(n, 0);
		n->attr.size = old;
	}
	return rc;
}

int fs_file_revert_locked(struct fs *fs, struct fs_node *n)
{
	struct idx_txn *t = NULL;
	struct idx_inode committed;
	int rc;

	dirty_drop_from(n, 0);
	n->attr_dirty = 0;
	rc = idx_read_begin(fs->idx, &t);
	if (rc)
		return rc;
	rc = idx_inode_get(t, n->ino, &committed);
	idx_read_end(t);
	if (rc)
		return rc;
	/* Link count and the like may be newer in memory than a failed flush left on disk only
	 * for data: keep those, take the data's size and times from what was committed. */
	n->attr.size = committed.size;
	n->attr.stored_bytes = committed.stored_bytes;
	n->attr.mtime_ns = committed.mtime_ns;
	return 0;
}

/* A read-ahead job: decodes the block into the cache unless it is there or on its way (a
 * foreground read decoding it), so the worker is not held waiting and takes the next one. */
static int prefetch_block(struct fs *fs, struct fs_node *n, uint64_t block)
{
	uint8_t *scratch;
	int rc = 0;

	pthread_rwlock_rdlock(&n->lock);
	if (block * fs->opt.block_size >= n->attr.size || dirty_find(n, block) ||
	    fs_cache_contains(fs->cache, n->ino, block))
		goto out;
	scratch = malloc(fs->opt.block_size);
	if (!scratch) {
		rc = -ENOMEM;
		goto out;
	}
	rc = fs_block_load(fs, n->ino, block, scratch);
	free(scratch);
out:
	pthread_rwlock_unlock(&n->lock);
	return rc;
}

int fs_file_prefetch(struct fs *fs, uint64_t ino, uint64_t block)
{
	struct fs_node *n;
	int rc = fs_node_get(fs, ino, &n);

	if (rc)
		return rc;
	rc = prefetch_block(fs, n, block);
	fs_node_put(fs, n);
	return rc;
}

uint64_t fs_file_buffered_bytes(const struct fs *fs, const struct fs_node *n)
{
	uint32_t bs = fs->opt.block_size;
	uint64_t bytes = 0;

	for (size_t i = 0; i < n->ndirty; i++) {
		uint64_t start = n->dirty[i].block * bs;

		if (start < n->attr.size)
			bytes += n->attr.size - start < bs ? n->attr.size - start : bs;
	}
	return bytes;
}

/* Extents of one inode from a block on: the first one (SEEK_DATA), the end of the run of
 * blocks that are stored or dirty (SEEK_HOLE), or up to a batch of them below `last`
 * (fallocate). */
struct extent_walk {
	struct fs_node *n;
	uint64_t next, last;
	int mode; /* SEEK_DATA, SEEK_HOLE, or 0 for a batch */
	uint64_t blocks[FS_DIRTY_MAX];
	size_t count;
};

static int extent_walk_step(void *arg, uint64_t ino, uint64_t block, const struct extent *e)
{
	struct extent_walk *w = arg;

	(void)e;
	if (ino != w->n->ino)
		return 1;
	switch (w->mode) {
	case SEEK_DATA:
		w->next = block;
		return 1;
	case SEEK_HOLE:
		while (w->next < block && dirty_find(w->n, w->next))
			w->next++;
		if (block != w->next)
			return 1; /* a hole before this extent */
		w->next++;
		return 0;
	default:
		if (block >= w->last)
			return 1;
		w->blocks[w->count++] = block;
		return w->count == FS_DIRTY_MAX;
	}
}

static int extent_walk(struct fs *fs, struct extent_walk *w, uint64_t from)
{
	struct idx_txn *t = NULL;
	int rc = idx_read_begin(fs->idx, &t);

	if (rc)
		return rc;
	rc = idx_extent_each_from(t, w->n->ino, from, extent_walk_step, w);
	idx_read_end(t);
	return rc < 0 ? rc : 0;
}

int fs_file_seek(struct fs *fs, struct fs_node *n, uint64_t off, int whence, uint64_t *out)
{
	uint32_t bs = fs->opt.block_size;
	uint64_t block = off / bs, size, found;
	struct extent_walk w = {.n = n, .mode = whence};
	int rc;

	pthread_rwlock_rdlock(&n->lock);
	size = n->attr.size;
	if (off >= size) {
		rc = -ENXIO;
		goto out;
	}
	/* An unwrapped file has no extents of its own blocks: all of it is data. */
	rc = fs_unwrap_is_unwrapped(fs, n->ino);
	if (rc) {
		if (rc > 0) {
			*out = whence == SEEK_DATA ? off : size;
			rc = 0;
		}
		goto out;
	}
	if (whence == SEEK_DATA) {
		w.next = UINT64_MAX;
		rc = extent_walk(fs, &w, block);
		if (rc)
			goto out;
		found = w.next;
		for (size_t i = 0; i < n->ndirty; i++) /* buffered data is data */
			if (n->dirty[i].block >= block && n->dirty[i].block < found)
				found = n->dirty[i].block;
		if (found == UINT64_MAX || found * bs >= size) {
			rc = -ENXIO;
			goto out;
		}
		*out = found == block ? off : found * bs;
	} else {
		w.next = block;
		rc = extent_walk(fs, &w, block);
		if (rc)
			goto out;
		while (dirty_find(n, w.next))
			w.next++;
		*out = w.next == block ? off : w.next * bs < size ? w.next * bs : size;
	}
out:
	pthread_rwlock_unlock(&n->lock);
	return rc;
}

/* Zeroes bytes [from, to) of a block, in its dirty copy. */
static int zero_in_block(struct fs *fs, struct fs_node *n, uint64_t from, uint64_t to)
{
	uint32_t bs = fs->opt.block_size;
	struct fs_dirty *d;
	int rc = dirty_get(fs, n, from / bs, 0, &d);

	if (!rc)
		memset(d->data + from % bs, 0, to - from);
	return rc;
}

/* Zeroes [from, to), inside the file: whole blocks become holes (their records are freed at the
 * next compaction), the partial blocks at the ends are rewritten with zeros. Node lock held,
 * nothing dirty. */
static int zero_range_locked(struct fs *fs, struct fs_node *n, uint64_t from, uint64_t to)
{
	uint32_t bs = fs->opt.block_size;
	uint64_t first = (from + bs - 1) / bs, last = to / bs, cursor = first;
	int rc = 0;

	if (from % bs || to < (from / bs + 1) * bs) {
		rc = zero_in_block(fs, n, from,
		                   to < (from / bs + 1) * bs ? to : (from / bs + 1) * bs);
		if (rc)
			return rc;
	}
	if (to % bs && to / bs > from / bs) {
		rc = zero_in_block(fs, n, to / bs * bs, to);
		if (rc)
			return rc;
	}
	/* A block of zeros flushes as a hole: the flush deletes its extent and accounts for it. */
	while (cursor < last) {
		struct extent_walk w = {.n = n, .last = last};

		rc = extent_walk(fs, &w, cursor);
		if (rc || !w.count)
			break;
		for (size_t i = 0; i < w.count && !rc; i++) {
			struct fs_dirty *d;

			rc = dirty_get(fs, n, w.blocks[i], 1, &d);
			if (!rc)
				memset(d->data, 0, bs);
		}
		if (!rc)
			rc = flush(fs, n, UINT64_MAX);
		if (rc)
			break;
		cursor = w.blocks[w.count - 1] + 1;
	}
	return rc;
}

int fs_file_fallocate(struct fs *fs, struct fs_node *n, int mode, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, size;
	int changed = 0, rc;

	pthread_rwlock_wrlock(&n->lock);
	rc = flush(fs, n, UINT64_MAX);
	if (rc)
		goto out;
	size = n->attr.size;
	/* A file stored unwrapped goes back to plain blocks before anything of it changes. */
	if (((mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) && off < size) ||
	    (!(mode & FALLOC_FL_KEEP_SIZE) && end > size)) {
		rc = fs_unwrap_revert_locked(fs, n);
		if (rc)
			goto out;
	}
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		/* Past the end the file reads as zeros already (see the invariant above). */
		uint64_t to = end < size ? end : size;

		if (off < to) {
			rc = zero_range_locked(fs, n, off, to);
			if (rc)
				goto out;
			changed = 1;
		}
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE) && end > size) {
		/* Nothing to reserve: blocks are written compressed when data arrives, so the
		 * space a block will take is not known before. The size is what programs see. */
		n->attr.size = end;
		changed = 1;
	}
	if (changed) {
		n->attr.mtime_ns = n->attr.ctime_ns = fs_now_ns();
		n->attr_dirty = 1;
		rc = flush(fs, n, UINT64_MAX);
		if (rc)
			fs_file_revert_locked(fs, n);
	}
out:
	pthread_rwlock_unlock(&n->lock);
	return rc;
}
