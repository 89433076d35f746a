/* The decoded-block cache: an LRU of whole blocks keyed by (ino, block). Readers copy out under
 * the lock; a block is never handed out by pointer, so eviction never races a reader.
 *
 * Blocks being decoded are listed too (`claims`): a BOA block takes a long time to decode, and
 * a sequential reader asks for the same block from several threads at once (the kernel sends
 * its read-ahead as concurrent reads while the read-ahead workers decode ahead), so a read of a
 * block whose decode is in progress waits for it rather than decoding it a second time. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "fs.h"
#include "fs_cache.h"

/* The recency list's links, apart from the entry so that the list's sentinel in struct fs_cache
 * carries no block data (a struct ending in a flexible array may not be a member). */
struct lru_link {
	struct lru_link *prev, *next; /* next towards the oldest */
};

struct cache_entry {
	struct lru_link lru; /* first: entry_of() converts back */
	uint64_t ino, block;
	struct cache_entry *hash_next;
	uint8_t data[];
};

struct fs_cache {
	pthread_mutex_t lock;
	uint32_t block_size;
	size_t max_entries, count;
	size_t nbuckets;
	struct cache_entry **buckets;
	struct lru_link lru;           /* sentinel: lru.next is the newest, lru.prev the oldest */
	struct fs_cache_claim *claims; /* blocks being decoded; few, so a list */
	pthread_cond_t released;       /* a claim ended: waiters look again */
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
	c->lru.next = c->lru.prev = &c->lru;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->released, NULL);
	*out = c;
	return 0;
}

static struct cache_entry *entry_of(struct lru_link *l)
{
	return (struct cache_entry *)((char *)l - offsetof(struct cache_entry, lru));
}

static void lru_unlink(struct cache_entry *e)
{
	e->lru.prev->next = e->lru.next;
	e->lru.next->prev = e->lru.prev;
}

static void lru_push_newest(struct fs_cache *c, struct cache_entry *e)
{
	e->lru.prev = &c->lru;
	e->lru.next = c->lru.next;
	c->lru.next->prev = &e->lru;
	c->lru.next = &e->lru;
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
	while (c->lru.next != &c->lru)
		remove_entry(c, entry_of(c->lru.next));
	free(c->buckets);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->released);
	free(c);
}

static int get_locked(struct fs_cache *c, uint64_t ino, uint64_t block, uint8_t *buf)
{
	struct cache_entry *e = *find_slot(c, ino, block);

	if (!e)
		return -ENOENT;
	memcpy(buf, e->data, c->block_size);
	lru_unlink(e);
	lru_push_newest(c, e);
	return 0;
}

static int claimed(const struct fs_cache *c, uint64_t ino, uint64_t block)
{
	for (const struct fs_cache_claim *k = c->claims; k; k = k->next)
		if (k->ino == ino && k->block == block)
			return 1;
	return 0;
}

int fs_cache_get(struct fs_cache *c, uint64_t ino, uint64_t block, uint8_t *buf)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = get_locked(c, ino, block, buf);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static void put_locked(struct fs_cache *c, uint64_t ino, uint64_t block, const uint8_t *data);

int fs_cache_claim(struct fs_cache *c, uint64_t ino, uint64_t block, uint8_t *buf,
                   struct fs_cache_claim *claim, int *waited)
{
	int rc;

	*waited = 0;
	pthread_mutex_lock(&c->lock);
	rc = get_locked(c, ino, block, buf);
	if (rc == 0)
		goto out;
	if (claimed(c, ino, block)) {
		/* The holder always releases (fs_block_read's one exit), so this ends. */
		*waited = 1;
		while (claimed(c, ino, block))
			pthread_cond_wait(&c->released, &c->lock);
		rc = get_locked(c, ino, block, buf); /* -ENOENT: its decode failed */
		goto out;
	}
	claim->ino = ino;
	claim->block = block;
	claim->next = c->claims;
	c->claims = claim;
	rc = 1;
out:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void fs_cache_release(struct fs_cache *c, struct fs_cache_claim *claim, const uint8_t *data)
{
	struct fs_cache_claim **k;

	pthread_mutex_lock(&c->lock);
	if (data) /* in the same hold as the wake-up: a waiter finds it, barring cache_size=0 */
		put_locked(c, claim->ino, claim->block, data);
	for (k = &c->claims; *k && *k != claim; k = &(*k)->next)
		;
	if (*k)
		*k = claim->next;
	pthread_cond_broadcast(&c->released);
	pthread_mutex_unlock(&c->lock);
}

int fs_cache_contains(struct fs_cache *c, uint64_t ino, uint64_t block)
{
	int found;

	pthread_mutex_lock(&c->lock);
	found = *find_slot(c, ino, block) != NULL || claimed(c, ino, block);
	pthread_mutex_unlock(&c->lock);
	return found;
}

static void put_locked(struct fs_cache *c, uint64_t ino, uint64_t block, const uint8_t *data)
{
	struct cache_entry *e, **slot;

	if (c->max_entries == 0)
		return;
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
		e = entry_of(c->lru.prev);
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
out:;
}

void fs_cache_put(struct fs_cache *c, uint64_t ino, uint64_t block, const uint8_t *data)
{
	pthread_mutex_lock(&c->lock);
	put_locked(c, ino, block, data);
	pthread_mutex_unlock(&c->lock);
}

void fs_cache_invalidate(struct fs_cache *c, uint64_t ino, uint64_t first_block)
{
	struct lru_link *l, *next;

	pthread_mutex_lock(&c->lock);
	for (l = c->lru.next; l != &c->lru; l = next) {
		struct cache_entry *e = entry_of(l);

		next = l->next;
		if (e->ino == ino && e->block >= first_block)
			remove_entry(c, e);
	}
	pthread_mutex_unlock(&c->lock);
}
