/* Read-ahead: a worker thread that decodes the block after the one a sequential reader just
 * read, so the next read finds it in the cache. Requests go into a small ring; when the ring
 * is full a request is dropped, which only costs speed. */
#include <errno.h>
#include <stdlib.h>

#include "fs.h"

#define PREFETCH_QUEUE 64

struct prefetch_req {
	uint64_t ino, block;
};

struct fs_prefetch {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stopping;
	size_t head, count;
	struct prefetch_req ring[PREFETCH_QUEUE];
};

static void *prefetch_main(void *arg)
{
	struct fs *fs = arg;
	struct fs_prefetch *p = fs->prefetch;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct prefetch_req req;
		struct fs_node *n;

		while (!p->count && !p->stopping)
			pthread_cond_wait(&p->wake, &p->lock);
		if (p->stopping)
			break;
		req = p->ring[p->head];
		p->head = (p->head + 1) % PREFETCH_QUEUE;
		p->count--;
		pthread_mutex_unlock(&p->lock);
		if (fs_node_get(fs, req.ino, &n) == 0) {
			/* Errors surface when the reader itself reads the block. */
			(void)fs_file_prefetch_block(fs, n, req.block);
			fs_node_put(fs, n);
		}
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int fs_prefetch_start(struct fs *fs)
{
	struct fs_prefetch *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	fs->prefetch = p;
	rc = pthread_create(&p->thread, NULL, prefetch_main, fs);
	if (rc) {
		fs->prefetch = NULL;
		free(p);
		return -rc;
	}
	return 0;
}

void fs_prefetch_stop(struct fs *fs)
{
	struct fs_prefetch *p = fs->prefetch;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	free(p);
	fs->prefetch = NULL;
}

void fs_prefetch_request(struct fs *fs, uint64_t ino, uint64_t block)
{
	struct fs_prefetch *p = fs->prefetch;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->count < PREFETCH_QUEUE) {
		p->ring[(p->head + p->count) % PREFETCH_QUEUE] = (struct prefetch_req){ino, block};
		p->count++;
		pthread_cond_signal(&p->wake);
	}
	pthread_mutex_unlock(&p->lock);
}
