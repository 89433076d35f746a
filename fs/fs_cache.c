/* The decoded-block cache: an LRU of whole blocks keyed by (ino, block). Readers copy out under
 * the lock; a block is never handed out by pointer, so eviction never races a reader. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "fs.h"
#include "fs_cache.h"

struct cache_entry {
	uint64_t ino, block;
	struct cache_entry *hash_next;
	struct cache_entry *lru_prev, *lru_next; /* lru_next towards the oldest */
	uint8_t data[];
};

struct fs_cache {
	pthread_mutex_t lock;
	uint32_t block_size;
	size_t max_entries, count;
	size_t nbuckets;
	struct cache_entry **buckets;
	struct cache_entry lru; /* sentinel: lru.lru_next is the newest, lru.lru_prev the oldest */
};

static size_t bucket_of(const struct fs_cache *c, uint64_t ino, uint64_t block)
{
	uint64_t h =
	    ino * 0x9E3779B97F4A7C15ull ^ (block + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;

	return (size_t)(h ^ (h >> 29)) & (c->nbuckets - 1);
}

int fs_cache_new(uint64_t capacity_bytes, uint32_t block_size, struct fs_cache **out)
{
	struct fs_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->block_size = block_size;
	c->max_entries = capacity_bytes / block_size;
	c->nbuckets = 64;
	while (c->nbuckets < c->max_entries * 2)
		c->nbuckets <<= 1;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return -ENOMEM;
	}
	c->lru.lru_next = c->lru.lru_prev = &c->lru;
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

static void lru_unlink(struct cache_entry *e)
{
	e->lru_prev->lru_next = e->lru_next;
	e->lru_next->lru_prev = e->lru_prev;
}

static void lru_push_newest(struct fs_cache *c, struct cache_entry *e)
{
	e->lru_prev = &c->lru;
	e->lru_next = c->lru.lru_next;
	c->lru.lru_next->lru_prev = e;
	c->lru.lru_next = e;
}

static struct cache_entry **find_slot(struct fs_cache *c, uint64_t ino, uint64_t block)
{
	struct cache_entry **p = &c->buckets[bucket_of(c, ino, block)];

	while (*p && ((*p)->ino != ino || (*p)->block != block))
		p = &(*p)->hash_next;
	return p;
}

static void remove_entry(struct fs_cache *c, struct cache_entry *e)
{
	struct cache_entry **p = find_slot(c, e->ino, e->block);

	*p = e->hash_next;
	lru_unlink(e);
	c->count--;
	free(e);
}

void fs_cache_free(struct fs_cache *c)
{
	if (!c)
		return;
	while (c->lru.lru_next != &c->lru)
		remove_entry(c, c->lru.lru_next);
	free(c->buckets);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int fs_cache_get(struct fs_cache *c, uint64_t ino, uint64_t block, uint8_t *buf)
{
	struct cache_entry *e;
	int rc = -ENOENT;

	pthread_mutex_lock(&c->lock);
	e = *find_slot(c, ino, block);
	if (e) {
		memcpy(buf, e->data, c->block_size);
		lru_unlink(e);
		lru_push_newest(c, e);
		rc = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int fs_cache_contains(struct fs_cache *c, uint64_t ino, uint64_t block)
{
	int found;

	pthread_mutex_lock(&c->lock);
	found = *find_slot(c, ino, block) != NULL;
	pthread_mutex_unlock(&c->lock);
	return found;
}

void fs_cache_put(struct fs_cache *c, uint64_t ino, uint64_t block, const uint8_t *data)
{
	struct cache_entry *e, **slot;

	if (c->max_entries == 0)
		return;
	pthread_mutex_lock(&c->lock);
	slot = find_slot(c, ino, block);
	e = *slot;
	if (e) {
		memcpy(e->data, data, c->block_size);
		lru_unlink(e);
		lru_push_newest(c, e);
		goto out;
	}
	if (c->count >= c->max_entries) {
		/* Reuse the oldest entry's memory rather than free and allocate again. */
		e = c->lru.lru_prev;
		*find_slot(c, e->ino, e->block) = e->hash_next;
		lru_unlink(e);
		c->count--;
		slot = find_slot(c, ino, block);
	} else {
		e = malloc(sizeof(*e) + c->block_size);
		if (!e)
			goto out; /* a cache that cannot grow is still correct */
	}
	e->ino = ino;
	e->block = block;
	memcpy(e->data, data, c->block_size);
	e->hash_next = NULL;
	*slot = e;
	lru_push_newest(c, e);
	c->count++;
out:
	pthread_mutex_unlock(&c->lock);
}

void fs_cache_invalidate(struct fs_cache *c, uint64_t ino, uint64_t first_block)
{
	struct cache_entry *e, *next;

	pthread_mutex_lock(&c->lock);
	for (e = c->lru.lru_next; e != &c->lru; e = next) {
		next = e->lru_next;
		if (e->ino == ino && e->block >= first_block)
			remove_entry(c, e);
	}
	pthread_mutex_unlock(&c->lock);
}
