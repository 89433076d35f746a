/* Read-ahead: worker threads that decode the blocks after the one a sequential reader just
 * read, so the next read finds them in the cache, and that push a block a random reader touched
 * into the kernel's page cache (the store job, fs_ops.c). Requests go into a small ring; when
 * the ring is full a request is dropped, which only costs speed.
 *
 * There are `-o threads=` workers, so a sequential reader of BOA blocks decodes that many
 * blocks at once. One reader cannot take them all from others: a file has at most twice as
 * many blocks queued or decoding ahead as there are workers (its window, see window(); more
 * are dropped), and a free worker takes the oldest request of the file that has the fewest
 * workers busy on it, so readers share the workers evenly. Random reads request nothing ahead
 * (fs_file_read). When a file's last handle closes, its requests still queued are dropped
 * (fs_prefetch_forget): no reader is left to read them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "fs_log.h"
#include "fs_prefetch.h"

/* The ring holds at least this many requests, and at least READERS_QUEUED files' windows: a
 * few sequential readers with full windows leave room for the next reader's requests. */
#define PREFETCH_QUEUE_MIN 64
#define READERS_QUEUED     8

enum prefetch_kind { PREFETCH_LOAD, PREFETCH_STORE };

struct prefetch_req {
	uint64_t ino, block;
	enum prefetch_kind kind;
};

#define PREFETCH_THREADS_MAX 64

struct fs_prefetch {
	fs_prefetch_load_fn load;
	fs_prefetch_load_fn store; /* NULL: store requests are dropped */
	size_t storing;            /* store jobs running */
	pthread_t threads[PREFETCH_THREADS_MAX];
	size_t nthreads;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stopping;
	size_t started; /* workers that took their busy[] slot */
	size_t head, count;
	size_t cap;                                     /* of ring */
	struct prefetch_req busy[PREFETCH_THREADS_MAX]; /* being decoded; ino 0 = idle */
	uint64_t requested, dropped, stored; /* blocks asked ahead, of them dropped; pushes */
	uint64_t forgotten;                  /* requested, then dropped when their file closed */
	struct prefetch_req ring[];
};

/* How many blocks of one file may be queued or decoding ahead: twice the workers. As many
 * again as are decoding wait in the ring, so that a worker that finishes a block takes the
 * next one at once rather than idle until the reader's next read asks for it (the reader may be
 * waiting for another worker's block). A freed worker still serves the file with the fewest
 * busy workers first (take_fair), so the queued half never holds a worker from others. */
static size_t window(size_t nthreads)
{
	return 2 * nthreads;
}

/* Requests of `ino` (of `kind`) queued, and busy workers on it. */
static size_t queued_for(const struct fs_prefetch *p, uint64_t ino, enum prefetch_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < p->count; i++) {
		const struct prefetch_req *r = &p->ring[(p->head + i) % p->cap];

		n += r->ino == ino && r->kind == kind;
	}
	return n;
}

static size_t busy_on(const struct fs_prefetch *p, uint64_t ino, enum prefetch_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < p->nthreads; i++)
		n += p->busy[i].ino == ino && p->busy[i].kind == kind;
	return n;
}

/* Takes the oldest request of the file with the fewest busy workers out of the ring. */
static struct prefetch_req take_fair(struct fs_prefetch *p)
{
	size_t best = 0, best_busy = SIZE_MAX;
	struct prefetch_req req;

	for (size_t i = 0; i < p->count && best_busy; i++) {
		const struct prefetch_req *r = &p->ring[(p->head + i) % p->cap];
		size_t b = busy_on(p, r->ino, r->kind);

		if (b < best_busy) {
			best = i;
			best_busy = b;
		}
	}
	req = p->ring[(p->head + best) % p->cap];
	for (size_t i = best; i > 0; i--) /* close the gap: the older ones move up by one */
		p->ring[(p->head + i) % p->cap] = p->ring[(p->head + i - 1) % p->cap];
	p->head = (p->head + 1) % p->cap;
	p->count--;
	return req;
}

/* 1 if the block is queued or being decoded already: a slow decode is never done twice. */
static int pending(const struct fs_prefetch *p, uint64_t ino, uint64_t block,
                   enum prefetch_kind kind)
{
	for (size_t i = 0; i < p->count; i++) {
		const struct prefetch_req *r = &p->ring[(p->head + i) % p->cap];

		if (r->ino == ino && r->block == block && r->kind == kind)
			return 1;
	}
	for (size_t i = 0; i < p->nthreads; i++)
		if (p->busy[i].ino == ino && p->busy[i].block == block && p->busy[i].kind == kind)
			return 1;
	return 0;
}

static void *prefetch_main(void *arg)
{
	struct fs *fs = arg;
	struct fs_prefetch *p = fs->prefetch;
	size_t slot;

	pthread_mutex_lock(&p->lock);
	slot = p->started++;
	for (;;) {
		struct prefetch_req req;

		while (!p->count && !p->stopping)
			pthread_cond_wait(&p->wake, &p->lock);
		if (p->stopping)
			break;
		req = take_fair(p);
		p->busy[slot] = req;
		if (req.kind == PREFETCH_STORE) {
			fs_prefetch_load_fn store = p->store;

			if (store) {
				p->storing++;
				pthread_mutex_unlock(&p->lock);
				if (store(fs, req.ino, req.block) == 0)
					__atomic_add_fetch(&p->stored, 1, __ATOMIC_RELAXED);
				pthread_mutex_lock(&p->lock);
				p->storing--;
			}
		} else {
			pthread_mutex_unlock(&p->lock);
			/* Errors surface when the reader itself reads the block. */
			(void)p->load(fs, req.ino, req.block);
			pthread_mutex_lock(&p->lock);
		}
		p->busy[slot].ino = 0;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int fs_prefetch_start(struct fs *fs, fs_prefetch_load_fn load)
{
	size_t want = fs->opt.threads ? fs->opt.threads : 1, cap;
	struct fs_prefetch *p;
	int rc;

	if (want > PREFETCH_THREADS_MAX)
		want = PREFETCH_THREADS_MAX;
	cap = READERS_QUEUED * window(want);
	if (cap < PREFETCH_QUEUE_MIN)
		cap = PREFETCH_QUEUE_MIN;
	p = calloc(1, sizeof(*p) + cap * sizeof(p->ring[0]));
	if (!p)
		return -ENOMEM;
	p->cap = cap;
	p->load = load;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	fs->prefetch = p;
	/* -o threads= workers, one per core by default: a slow codec (BOA) then decodes that
	 * many blocks at once. */
	for (; p->nthreads < want; p->nthreads++) {
		rc = pthread_create(&p->threads[p->nthreads], NULL, prefetch_main, fs);
		if (rc) {
			if (p->nthreads)
				break;
			fs->prefetch = NULL;
			free(p);
			return -rc;
		}
	}
	return 0;
}

size_t fs_prefetch_depth(struct fs *fs)
{
	return fs->prefetch ? window(fs->prefetch->nthreads) : 0;
}

void fs_prefetch_stop(struct fs *fs)
{
	struct fs_prefetch *p = fs->prefetch;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	/* What the tests check (read-ahead for sequential readers only) and what tuning needs. */
	if (p->requested || p->stored)
		fs_log("read-ahead: %llu blocks requested ahead (%llu dropped, %llu dropped at "
		       "close), %llu blocks pushed into the page cache; %llu blocks decoded, %llu "
		       "reads waited for a decode in progress",
		       (unsigned long long)p->requested, (unsigned long long)p->dropped,
		       (unsigned long long)p->forgotten, (unsigned long long)p->stored,
		       (unsigned long long)__atomic_load_n(&fs->blocks_decoded, __ATOMIC_RELAXED),
		       (unsigned long long)__atomic_load_n(&fs->decode_waits, __ATOMIC_RELAXED));
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	free(p);
	fs->prefetch = NULL;
}

static void request(struct fs *fs, uint64_t ino, uint64_t block, enum prefetch_kind kind)
{
	struct fs_prefetch *p = fs->prefetch;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	if (pending(p, ino, block, kind))
		goto out;
	if (kind == PREFETCH_LOAD) {
		p->requested++;
		/* The file's window. */
		if (p->count == p->cap ||
		    queued_for(p, ino, kind) + busy_on(p, ino, kind) >= window(p->nthreads)) {
			p->dropped++;
			goto out;
		}
	}
	if (p->count < p->cap && (kind != PREFETCH_STORE || p->store)) {
		p->ring[(p->head + p->count) % p->cap] = (struct prefetch_req){ino, block, kind};
		p->count++;
		pthread_cond_signal(&p->wake);
	}
out:
	pthread_mutex_unlock(&p->lock);
}

void fs_prefetch_request(struct fs *fs, uint64_t ino, uint64_t block)
{
	request(fs, ino, block, PREFETCH_LOAD);
}

void fs_prefetch_forget(struct fs *fs, uint64_t ino)
{
	struct fs_prefetch *p = fs->prefetch;
	size_t kept = 0;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	/* Closes the ring's gaps in place, oldest first: a kept request moves up to slot `kept`,
	 * never past one not yet looked at (kept <= i). Only queued requests go; a request holds
	 * no cache claim until a worker takes it (the load job claims the block), so nothing is
	 * left for a reader to wait on. Decodes in progress finish: their claims end as usual. */
	for (size_t i = 0; i < p->count; i++) {
		struct prefetch_req r = p->ring[(p->head + i) % p->cap];

		if (r.ino == ino && r.kind == PREFETCH_LOAD)
			p->forgotten++;
		else
			p->ring[(p->head + kept++) % p->cap] = r;
	}
	p->count = kept;
	pthread_mutex_unlock(&p->lock);
}

void fs_prefetch_store(struct fs *fs, uint64_t ino, uint64_t block)
{
	request(fs, ino, block, PREFETCH_STORE);
}

void fs_prefetch_set_store(struct fs *fs, fs_prefetch_load_fn store)
{
	struct fs_prefetch *p = fs->prefetch;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->store = store;
	pthread_mutex_unlock(&p->lock);
}

size_t fs_prefetch_storing(struct fs *fs)
{
	struct fs_prefetch *p = fs->prefetch;
	size_t n;

	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	n = p->storing;
	pthread_mutex_unlock(&p->lock);
	return n;
}
