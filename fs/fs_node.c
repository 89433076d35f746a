/* In-memory inodes: a hash table of the nodes the kernel holds a lookup on, or a request or an
 * open file is using. A node carries the authoritative attributes (written through to the index
 * in the same transaction as the change that made them) and its dirty blocks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"
#include "fs_cache.h"
#include "fs_log.h"
#include "fs_node.h"
#include "fs_txn.h"

static size_t node_bucket(const struct fs *fs, uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 20) & (fs->nodes_cap - 1);
}

static struct fs_node *node_find(struct fs *fs, uint64_t ino)
{
	struct fs_node *n = fs->nodes[node_bucket(fs, ino)];

	while (n && n->ino != ino)
		n = n->hash_next;
	return n;
}

static void node_unhash(struct fs *fs, struct fs_node *n)
{
	struct fs_node **p = &fs->nodes[node_bucket(fs, n->ino)];

	while (*p != n)
		p = &(*p)->hash_next;
	*p = n->hash_next;
	fs->nodes_count--;
}

static void node_hash(struct fs *fs, struct fs_node *n)
{
	size_t b;

	if (fs->nodes_count + 1 > fs->nodes_cap) {
		/* Grow in place; on allocation failure the chains just get longer. */
		struct fs_node **bigger = calloc(fs->nodes_cap * 2, sizeof(*bigger));

		if (bigger) {
			struct fs_node **old = fs->nodes;
			size_t old_cap = fs->nodes_cap;

			fs->nodes = bigger;
			fs->nodes_cap *= 2;
			for (size_t i = 0; i < old_cap; i++) {
				struct fs_node *m = old[i], *next;

				for (; m; m = next) {
					next = m->hash_next;
					b = node_bucket(fs, m->ino);
					m->hash_next = fs->nodes[b];
					fs->nodes[b] = m;
				}
			}
			free(old);
		}
	}
	b = node_bucket(fs, n->ino);
	n->hash_next = fs->nodes[b];
	fs->nodes[b] = n;
	fs->nodes_count++;
}

static void node_free(struct fs_node *n)
{
	for (size_t i = 0; i < n->ndirty; i++)
		free(n->dirty[i].data);
	free(n->dirty);
	pthread_rwlock_destroy(&n->lock);
	pthread_mutex_destroy(&n->store_lock);
	free(n);
}

static int sum_record(void *arg, uint64_t ino, uint64_t block, const struct extent *e)
{
	*(uint64_t *)arg += e->record_len;
	return 0;
}

/* A lost block-map entry would read as a hole: zeros, not an error. The inode's stored byte
 * count, kept in another page of the index, must match what its extents add up to; when it
 * does not, the file's map is damaged and its data is not served. */
static int extents_disagree(struct idx_txn *t, const struct idx_inode *in)
{
	uint64_t sum = 0;
	int rc;

	if (!S_ISREG(in->mode) && !S_ISLNK(in->mode))
		return 0;
	rc = idx_extent_each(t, in->ino, 0, UINT64_MAX, sum_record, &sum);
	if (rc || sum != in->stored_bytes) {
		fs_log("inode %llu: block map damaged (extents hold %llu bytes, inode says %llu): "
		       "reads fail with EIO; run boa fsck",
		       (unsigned long long)in->ino, (unsigned long long)sum,
		       (unsigned long long)in->stored_bytes);
		return 1;
	}
	return 0;
}

int fs_node_get(struct fs *fs, uint64_t ino, struct fs_node **out)
{
	struct idx_txn *t = NULL;
	struct fs_node *n, *other;
	int rc;

	pthread_mutex_lock(&fs->nodes_lock);
	n = node_find(fs, ino);
	if (n) {
		n->refs++;
		pthread_mutex_unlock(&fs->nodes_lock);
		*out = n;
		return 0;
	}
	pthread_mutex_unlock(&fs->nodes_lock);

	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	rc = idx_read_begin(fs->idx, &t);
	if (rc)
		goto fail;
	rc = idx_inode_get(t, ino, &n->attr);
	if (!rc)
		n->damaged = extents_disagree(t, &n->attr);
	idx_read_end(t);
	if (rc)
		goto fail;
	n->ino = ino;
	n->refs = 1;
	pthread_rwlock_init(&n->lock, NULL);
	pthread_mutex_init(&n->store_lock, NULL);

	pthread_mutex_lock(&fs->nodes_lock);
	other = node_find(fs, ino);
	if (other) {
		/* Another request loaded it meanwhile; its copy may already be newer. */
		other->refs++;
		pthread_mutex_unlock(&fs->nodes_lock);
		node_free(n);
		*out = other;
		return 0;
	}
	node_hash(fs, n);
	pthread_mutex_unlock(&fs->nodes_lock);
	*out = n;
	return 0;
fail:
	free(n);
	return rc;
}

static int delete_inode_body(struct idx_txn *t, void *arg)
{
	uint64_t ino = *(const uint64_t *)arg;
	int rc = idx_extent_del_from(t, ino, 0, NULL);

	if (!rc)
		rc = idx_xattr_del_all(t, ino);
	if (!rc || rc == -ENOENT)
		rc = idx_unwrap_del(t, ino);
	if (!rc || rc == -ENOENT)
		rc = idx_inode_del(t, ino);
	if (!rc || rc == -ENOENT)
		rc = idx_orphan_del(t, ino);
	return rc == -ENOENT ? 0 : rc;
}

/* Deletes an unlinked inode and everything it owns. */
static int node_delete_inode(struct fs *fs, uint64_t ino)
{
	fs_cache_invalidate(fs->cache, ino, 0);
	return fs_txn_run(fs, NULL, 0, delete_inode_body, &ino);
}

/* Called with no lock held, once nothing else can reach the node: its last reference and lookup
 * are gone and the caller unhashed it under nodes_lock, or the whole table is dropped at unmount.
 * So flushing it may take its own lock and a write transaction. */
static void node_release(struct fs *fs, struct fs_node *n)
{
	int rc;

	if (n->attr.nlink == 0) {
		rc = node_delete_inode(fs, n->ino);
		if (rc)
			fs_log("inode %llu: cannot free unlinked inode (%s); it stays an orphan "
			       "and is freed at next mount",
			       (unsigned long long)n->ino, strerror(-rc));
	} else if (n->ndirty || n->attr_dirty ||
	           __atomic_load_n(&n->atime_read_ns, __ATOMIC_RELAXED)) { /* flush folds it */
		pthread_rwlock_wrlock(&n->lock);
		rc = fs->node_flush(fs, n);
		pthread_rwlock_unlock(&n->lock);
		if (rc)
			fs_log("inode %llu: dropping %zu unflushed blocks: %s",
			       (unsigned long long)n->ino, n->ndirty, strerror(-rc));
	}
	node_free(n);
}

void fs_node_put(struct fs *fs, struct fs_node *n)
{
	int last;

	pthread_mutex_lock(&fs->nodes_lock);
	last = --n->refs == 0 && n->nlookup == 0;
	if (last)
		node_unhash(fs, n);
	pthread_mutex_unlock(&fs->nodes_lock);
	if (last)
		node_release(fs, n);
}

void fs_node_lookup_inc(struct fs *fs, struct fs_node *n)
{
	pthread_mutex_lock(&fs->nodes_lock);
	n->nlookup++;
	pthread_mutex_unlock(&fs->nodes_lock);
}

void fs_node_forget(struct fs *fs, uint64_t ino, uint64_t nlookup)
{
	struct fs_node *n;
	int last = 0;

	pthread_mutex_lock(&fs->nodes_lock);
	n = node_find(fs, ino);
	if (n) {
		n->nlookup = nlookup > n->nlookup ? 0 : n->nlookup - nlookup;
		last = n->nlookup == 0 && n->refs == 0;
		if (last)
			node_unhash(fs, n);
	}
	pthread_mutex_unlock(&fs->nodes_lock);
	if (last)
		node_release(fs, n);
}

int fs_node_reap(struct fs *fs, uint64_t ino)
{
	return node_delete_inode(fs, ino);
}

void fs_node_atime_note(struct fs_node *n, int64_t now)
{
	int64_t seen = __atomic_load_n(&n->atime_read_ns, __ATOMIC_RELAXED);

	/* The latest of concurrent reads wins; relaxed is enough, the node lock orders this
	 * against the fold. */
	while (seen < now && !__atomic_compare_exchange_n(&n->atime_read_ns, &seen, now, 0,
	                                                  __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

int64_t fs_node_atime(const struct fs_node *n)
{
	int64_t read = __atomic_load_n(&n->atime_read_ns, __ATOMIC_RELAXED);

	return read > n->attr.atime_ns ? read : n->attr.atime_ns;
}

void fs_node_atime_fold(struct fs_node *n)
{
	int64_t read = __atomic_exchange_n(&n->atime_read_ns, 0, __ATOMIC_RELAXED);

	if (read > n->attr.atime_ns) {
		n->attr.atime_ns = read;
		n->attr_dirty = 1;
	}
}

int fs_node_store_attr(struct idx_txn *t, struct fs_node *n)
{
	return idx_inode_put(t, &n->attr);
}

/* Frees every node at unmount; dirty data is flushed first by the caller. */
void fs_nodes_drop_all(struct fs *fs)
{
	for (size_t i = 0; i < fs->nodes_cap; i++) {
		struct fs_node *n = fs->nodes[i], *next;

		for (; n; n = next) {
			next = n->hash_next;
			node_release(fs, n);
		}
		fs->nodes[i] = NULL;
	}
	fs->nodes_count = 0;
}
