/* When each file was last read: an open-addressing table of FS_HEAT_SLOTS (inode, time) pairs
 * under one mutex. A file read over and over takes one slot; when the table is three quarters
 * full, the older half of the entries is forgotten. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fs_heat.h"

#define FS_HEAT_SLOTS 65536 /* a power of two: 1 MiB, the files read in one mount */

struct heat_slot {
	uint64_t ino; /* 0: empty (inode 0 does not exist) */
	int64_t read_ns;
};

struct fs_heat {
	pthread_mutex_t lock;
	size_t used;
	struct heat_slot slots[FS_HEAT_SLOTS];
};

static size_t slot_of(uint64_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 48) & (FS_HEAT_SLOTS - 1);
}

int fs_heat_new(struct fs_heat **out)
{
	struct fs_heat *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	*out = h;
	return 0;
}

void fs_heat_free(struct fs_heat *h)
{
	if (!h)
		return;
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* Keeps the newer half of the entries (by read time); lock held. */
static void forget_older_half(struct fs_heat *h)
{
	struct heat_slot *kept = malloc(sizeof(h->slots));
	int64_t lo = INT64_MAX, hi = 0, cut;
	size_t n = 0;

	for (size_t i = 0; i < FS_HEAT_SLOTS; i++) {
		if (!h->slots[i].ino)
			continue;
		lo = h->slots[i].read_ns < lo ? h->slots[i].read_ns : lo;
		hi = h->slots[i].read_ns > hi ? h->slots[i].read_ns : hi;
	}
	cut = lo + (hi - lo) / 2;
	if (kept)
		for (size_t i = 0; i < FS_HEAT_SLOTS; i++)
			if (h->slots[i].ino && h->slots[i].read_ns > cut)
				kept[n++] = h->slots[i];
	memset(h->slots, 0, sizeof(h->slots));
	h->used = 0;
	for (size_t i = 0; i < n; i++) {
		size_t s = slot_of(kept[i].ino);

		while (h->slots[s].ino)
			s = (s + 1) & (FS_HEAT_SLOTS - 1);
		h->slots[s] = kept[i];
		h->used++;
	}
	free(kept);
}

void fs_heat_note(struct fs_heat *h, uint64_t ino, int64_t now_ns)
{
	size_t s = slot_of(ino);

	pthread_mutex_lock(&h->lock);
	while (h->slots[s].ino && h->slots[s].ino != ino)
		s = (s + 1) & (FS_HEAT_SLOTS - 1);
	if (!h->slots[s].ino) {
		if (h->used >= FS_HEAT_SLOTS / 4 * 3) {
			forget_older_half(h);
			s = slot_of(ino);
			while (h->slots[s].ino)
				s = (s + 1) & (FS_HEAT_SLOTS - 1);
		}
		h->slots[s].ino = ino;
		h->used++;
	}
	if (now_ns > h->slots[s].read_ns)
		h->slots[s].read_ns = now_ns;
	pthread_mutex_unlock(&h->lock);
}

int64_t fs_heat_last_read(struct fs_heat *h, uint64_t ino)
{
	size_t s = slot_of(ino);
	int64_t t = 0;

	pthread_mutex_lock(&h->lock);
	while (h->slots[s].ino && h->slots[s].ino != ino)
		s = (s + 1) & (FS_HEAT_SLOTS - 1);
	if (h->slots[s].ino)
		t = h->slots[s].read_ns;
	pthread_mutex_unlock(&h->lock);
	return t;
}
