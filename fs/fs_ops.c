/* The libfuse low-level operations: each translates one kernel request into calls of the
 * namespace (fs_ns.h), the node table (fs_node.h) or file data (fs_file.h), and the result into
 * one reply. What is here is the kernel's side only: entries and their lookup counts, cache
 * timeouts, open-file handles, directory snapshots for readdir offsets. */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <linux/falloc.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs.h"
#include "fs_block.h"
#include "fs_file.h"
#include "fs_heat.h"
#include "fs_log.h"
#include "fs_node.h"
#include "fs_ns.h"
#include "fs_unwrap.h"
#include "fs_ops.h"
#include "fs_prefetch.h"

/* Attribute and entry caching in the kernel: every change goes through this daemon, so the
 * kernel's copy is only stale when a change it made itself is replied to, which updates it. */
#define FS_ATTR_TIMEOUT  1.0
#define FS_ENTRY_TIMEOUT 1.0

struct fs_handle {
	struct fs_node *node;
	int flags;
	int writes;                    /* opened for writing: counted in node->writers */
	struct fs_handle *prev, *next; /* fs->handles */
};

static void handle_link(struct fs *fs, struct fs_handle *h)
{
	pthread_mutex_lock(&fs->handles_lock);
	h->prev = NULL;
	h->next = fs->handles;
	if (h->next)
		h->next->prev = h;
	fs->handles = h;
	pthread_mutex_unlock(&fs->handles_lock);
}

static void handle_unlink(struct fs *fs, struct fs_handle *h)
{
	pthread_mutex_lock(&fs->handles_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		fs->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&fs->handles_lock);
}

struct dir_entry {
	char *name;
	uint64_t ino;
	uint8_t dtype;
};

struct dir_snapshot {
	struct dir_entry *entries;
	size_t count, cap;
};

static struct fs *req_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void attr_to_stat(const struct fs *fs, const struct idx_inode *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = (off_t)a->size;
	st->st_blksize = fs->opt.block_size;
	/* st_blocks counts what is stored (compressed), so du shows the space really used. */
	st->st_blocks = (blkcnt_t)((a->stored_bytes + 511) / 512);
	st->st_atim.tv_sec = a->atime_ns / 1000000000;
	st->st_atim.tv_nsec = a->atime_ns % 1000000000;
	st->st_mtim.tv_sec = a->mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = a->mtime_ns % 1000000000;
	st->st_ctim.tv_sec = a->ctime_ns / 1000000000;
	st->st_ctim.tv_nsec = a->ctime_ns % 1000000000;
}

static void node_stat(struct fs *fs, struct fs_node *n, struct stat *st)
{
	struct idx_inode a;

	pthread_rwlock_rdlock(&n->lock);
	a = n->attr;
	a.atime_ns = fs_node_atime(n); /* with a read's not yet folded in */
	attr_to_stat(fs, &a, st);
	/* Data waiting in memory counts too: tar -S and cp --sparse take st_blocks == 0 for a
	 * file with no data, and du would under-report until the flush. */
	st->st_blocks =
	    (blkcnt_t)((n->attr.stored_bytes + fs_file_buffered_bytes(fs, n) + 511) / 512);
	pthread_rwlock_unlock(&n->lock);
}

static void fill_entry(struct fs *fs, struct fs_node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = n->attr.generation;
	e->attr_timeout = FS_ATTR_TIMEOUT;
	e->entry_timeout = FS_ENTRY_TIMEOUT;
	node_stat(fs, n, &e->attr);
}

/* Replies with the node's entry; the kernel now holds one more lookup on it. */
static void reply_entry(fuse_req_t req, struct fs *fs, struct fs_node *n)
{
	struct fuse_entry_param e;

	fill_entry(fs, n, &e);
	fs_node_lookup_inc(fs, n);
	if (fuse_reply_entry(req, &e))
		fs_node_forget(fs, n->ino, 1); /* the request was interrupted: nobody got it */
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	/* O_TRUNC comes as a setattr, so truncation takes one path. */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	(void)userdata;
}

static void op_destroy(void *userdata)
{
	(void)userdata;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = req_fs(req);
	struct fs_node *n;
	int rc = fs_ns_lookup(fs, parent, name, &n);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	reply_entry(req, fs, n);
	fs_node_put(fs, n);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_node_forget(req_fs(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		fs_node_forget(req_fs(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_node *n;
	struct stat st;
	int rc = fs_node_get(fs, ino, &n);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	node_stat(fs, n, &st);
	fs_node_put(fs, n);
	fuse_reply_attr(req, &st, FS_ATTR_TIMEOUT);
}

static int64_t timespec_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_ns_setattr a = {
	    .mode = attr->st_mode,
	    .uid = attr->st_uid,
	    .gid = attr->st_gid,
	    .size = (uint64_t)attr->st_size,
	    .atime_ns = timespec_ns(&attr->st_atim),
	    .mtime_ns = timespec_ns(&attr->st_mtim),
	    .ctime_ns = timespec_ns(&attr->st_ctim),
	};
	static const struct {
		int fuse, ns;
	} bits[] = {
	    {FUSE_SET_ATTR_MODE, FS_NS_SET_MODE},
	    {FUSE_SET_ATTR_UID, FS_NS_SET_UID},
	    {FUSE_SET_ATTR_GID, FS_NS_SET_GID},
	    {FUSE_SET_ATTR_SIZE, FS_NS_SET_SIZE},
	    {FUSE_SET_ATTR_ATIME, FS_NS_SET_ATIME},
	    {FUSE_SET_ATTR_MTIME, FS_NS_SET_MTIME},
	    {FUSE_SET_ATTR_ATIME_NOW, FS_NS_SET_ATIME_NOW},
	    {FUSE_SET_ATTR_MTIME_NOW, FS_NS_SET_MTIME_NOW},
	    {FUSE_SET_ATTR_CTIME, FS_NS_SET_CTIME},
	};
	struct idx_inode now;
	struct stat st;
	int rc;

	struct fs_node *n = NULL;

	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (to_set & bits[i].fuse)
			a.set |= (unsigned int)bits[i].ns;
	/* A new size changes data the kernel may cache: no page-cache store may run meanwhile. */
	if ((to_set & FUSE_SET_ATTR_SIZE) && fs_node_get(fs, ino, &n) == 0)
		pthread_mutex_lock(&n->store_lock);
	rc = fs_ns_setattr(fs, ino, &a, &now);
	if (n) {
		pthread_mutex_unlock(&n->store_lock);
		fs_node_put(fs, n);
	}
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	attr_to_stat(fs, &now, &st);
	fuse_reply_attr(req, &st, FS_ATTR_TIMEOUT);
}

/* The credentials of the process that made the request. */
static struct fs_ns_who req_who(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fs_ns_who who = {.uid = ctx->uid, .gid = ctx->gid};

	return who;
}

/* Replies with the new node's entry, or with the error. */
static void reply_made(fuse_req_t req, int rc, struct fs_node *n)
{
	struct fs *fs = req_fs(req);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	reply_entry(req, fs, n); /* req is gone after its reply */
	fs_node_put(fs, n);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct fs_ns_who who = req_who(req);
	struct fs_node *n = NULL;
	int rc = fs_ns_mknod(req_fs(req), &who, parent, name, mode, rdev, &n);

	reply_made(req, rc, n);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs_ns_who who = req_who(req);
	struct fs_node *n = NULL;
	int rc = fs_ns_mkdir(req_fs(req), &who, parent, name, mode, &n);

	reply_made(req, rc, n);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct fs_ns_who who = req_who(req);
	struct fs_node *n = NULL;
	int rc = fs_ns_symlink(req_fs(req), &who, parent, name, link, &n);

	reply_made(req, rc, n);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct fs_node *n = NULL;
	int rc = fs_ns_link(req_fs(req), ino, newparent, newname, &n);

	reply_made(req, rc, n);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char target[4097];
	size_t got = 0;
	int rc = fs_ns_readlink(req_fs(req), ino, target, sizeof(target) - 1, &got);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	target[got] = '\0';
	fuse_reply_readlink(req, target);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -fs_ns_unlink(req_fs(req), parent, name));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -fs_ns_rmdir(req_fs(req), parent, name));
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
	fuse_reply_err(req, -fs_ns_rename(req_fs(req), parent, name, newparent, newname, flags));
}

/* The handle no longer writes (release): page-cache stores may run again once none does. */
static void handle_unwrite(struct fs_handle *h)
{
	if (!h->writes)
		return;
	pthread_mutex_lock(&h->node->store_lock);
	h->node->writers--;
	pthread_mutex_unlock(&h->node->store_lock);
}

static int open_handle(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	struct fs_handle *h = malloc(sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->node = n; /* keeps the caller's reference until release */
	h->flags = fi->flags;
	h->writes = (fi->flags & O_ACCMODE) != O_RDONLY;
	if (h->writes) {
		/* Waits for a page-cache store of this file to end; none starts until release. */
		pthread_mutex_lock(&n->store_lock);
		n->writers++;
		pthread_mutex_unlock(&n->store_lock);
	}
	pthread_rwlock_wrlock(&n->lock);
	n->open_count++;
	pthread_rwlock_unlock(&n->lock);
	handle_link(fs, h);
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->keep_cache = 1;
	return 0;
}

/* Undoes open_handle: the node's open count and writer count, the handle list, the handle and
 * its node reference. `flush_rc`: how the flush at close failed, or 0; writes it could not store
 * are dropped under the same lock that ends the open. */
static void close_handle(struct fs *fs, struct fs_handle *h, int flush_rc)
{
	struct fs_node *n = h->node;

	pthread_rwlock_wrlock(&n->lock);
	if (flush_rc) {
		fs_log("inode %llu: flush at close failed: %s; unstored writes are dropped",
		       (unsigned long long)n->ino, strerror(-flush_rc));
		fs_file_revert_locked(fs, n);
	}
	n->open_count--;
	pthread_rwlock_unlock(&n->lock);
	handle_unwrite(h);
	handle_unlink(fs, h);
	free(h);
	fs_node_put(fs, n);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fuse_entry_param e;
	struct fs_ns_who who = req_who(req);
	struct fs_node *n;
	int rc = fs_ns_mknod(fs, &who, parent, name, S_IFREG | (mode & 07777), 0, &n);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	rc = open_handle(fs, n, fi);
	if (rc) {
		fs_node_put(fs, n);
		fuse_reply_err(req, -rc);
		return;
	}
	fill_entry(fs, n, &e);
	fs_node_lookup_inc(fs, n);
	fuse_reply_create(req, &e, fi);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_node *n;
	int rc = fs_ns_open(fs, ino, &n);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	/* An unwrapped file whose compression library drifted cannot be read back exactly. */
	rc = fs_unwrap_check_open(fs, ino);
	if (!rc)
		rc = open_handle(fs, n, fi);
	if (rc) {
		fs_node_put(fs, n);
		fuse_reply_err(req, -rc);
		return;
	}
	/* Reads of this open may all come from the kernel's page cache (keep_cache): the open is
	 * what keeps the file hot for the cold policy. */
	if ((fi->flags & O_ACCMODE) != O_WRONLY)
		fs_heat_note(fs->heat, n->ino, fs_now_ns());
	if (fuse_reply_open(req, fi)) /* interrupted: the kernel will not release this handle */
		close_handle(fs, (struct fs_handle *)(uintptr_t)fi->fh, 0);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	uint8_t *buf = malloc(size ? size : 1);
	uint32_t bs = fs->opt.block_size;
	size_t got = 0;
	int rc, store;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}

	rc = fs_file_read(fs, h->node, (uint64_t)off, size, buf, &got);
	/* A buffered read of part of a block (a random reader: read-ahead asks for whole blocks)
	 * decoded all of it: have the rest pushed into the kernel's page cache, so that the
	 * block's other pages cost no request and no decode. Only after the reply, which
	 * unlocks this read's pages (a store waits for locked pages), and not for O_DIRECT. */
	store = !rc && got && size < bs && !(fi->flags & O_DIRECT) && !h->writes;
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, (const char *)buf, got);
	/* `fi` and the handle may be released from here on: use only `ino`, `off` and `got`. */
	if (store) {
		fs_prefetch_store(fs, ino, (uint64_t)off / bs);
		if (((uint64_t)off + got - 1) / bs != (uint64_t)off / bs)
			fs_prefetch_store(fs, ino, ((uint64_t)off + got - 1) / bs);
	}
	free(buf);
	fs_block_idle(fs); /* the reply is out: the next decode's reset costs no one a wait */
}

/* The store job (fs_prefetch_store): pushes block `block` of `ino` into the kernel's page cache.
 * It runs only while no handle can write the file and holds the node's store_lock throughout,
 * so the bytes it pushes cannot be older than a write or a truncate the kernel has seen. The
 * kernel may wait for pages that reads in flight hold locked; those reads are served by FUSE
 * workers, which never wait for a store (fs_ops_detach serves them at exit). */
static int store_block(struct fs *fs, uint64_t ino, uint64_t block)
{
	struct fuse_session *se = fs->fuse_session;
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(0);
	uint32_t bs = fs->opt.block_size;
	uint64_t start = block * bs, size;
	uint8_t *data = NULL;
	struct fs_node *n;
	int rc;

	if (!se)
		return 0;
	rc = fs_node_get(fs, ino, &n);
	if (rc)
		return rc;
	pthread_mutex_lock(&n->store_lock);
	if (n->writers)
		goto out; /* a writer may change the block: the kernel asks when it needs it */
	pthread_rwlock_rdlock(&n->lock);
	size = n->attr.size;
	rc = n->damaged || n->ndirty ? -EAGAIN : 0;
	pthread_rwlock_unlock(&n->lock);
	if (rc || start >= size)
		goto out;
	data = malloc(bs);
	rc = data ? fs_block_load(fs, ino, block, data) : -ENOMEM; /* cached: just decoded */
	if (rc)
		goto out;
	bv.buf[0].mem = data;
	bv.buf[0].size = size - start < bs ? size - start : bs;
	rc = fuse_lowlevel_notify_store(se, ino, (off_t)start, &bv, 0);
out:
	pthread_mutex_unlock(&n->store_lock);
	free(data);
	fs_node_put(fs, n);
	return rc;
}

/* Stopping by signal. libfuse ends its loop on SIGTERM, SIGINT or SIGHUP and drops requests
 * it reads after that; a store waiting for a page that such a read holds locked would then wait
 * forever, in the kernel, where not even SIGKILL ends it. So these signals first go to a thread
 * of ours that stops the stores while the loop still serves reads, and only then to libfuse's
 * handler. The write end of the pipe is the one piece of state a signal handler can reach. */
static const int stop_signals[] = {SIGTERM, SIGINT, SIGHUP};
static int stop_pipe_write = -1;

static void on_stop_signal(int sig)
{
	int saved = errno;
	unsigned char s = (unsigned char)sig;

	if (write(stop_pipe_write, &s, 1) < 0)
		(void)0; /* a full pipe already holds a stop */
	errno = saved;
}

static void stores_quiesce(struct fs *fs)
{
	fs_prefetch_set_store(fs, NULL);
	/* Bounded: 10 s is far past any store (a memcpy into 32 pages) while the loop serves. */
	for (int i = 0; i < 1000 && fs_prefetch_storing(fs); i++)
		usleep(10000);
}

static void *stopper_main(void *arg)
{
	struct fs *fs = arg;
	struct fuse_session *se = fs->fuse_session;
	unsigned char sig;

	if (read(fs->stop_pipe[0], &sig, 1) != 1)
		return NULL; /* fs_ops_detach: the loop ended otherwise */
	stores_quiesce(fs);
	/* Now libfuse's own handler, on the thread that runs the loop, ends it. */
	signal(sig, SIG_DFL);
	fuse_set_signal_handlers(se);
	pthread_kill(fs->loop_thread, sig);
	return NULL;
}

void fs_ops_attach(struct fs *fs, struct fuse_session *se)
{
	struct sigaction sa = {.sa_handler = on_stop_signal};

	fs->fuse_session = se;
	fs->loop_thread = pthread_self();
	pthread_mutex_init(&fs->handles_lock, NULL);
	if (pipe2(fs->stop_pipe, O_CLOEXEC)) {
		fs_log("page-cache stores off: cannot make a pipe: %s", strerror(errno));
		return;
	}
	if (pthread_create(&fs->stopper, NULL, stopper_main, fs)) {
		close(fs->stop_pipe[0]);
		close(fs->stop_pipe[1]);
		fs_log("page-cache stores off: cannot start a thread");
		return;
	}
	fs->stopper_made = 1;
	stop_pipe_write = fs->stop_pipe[1];
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		sigaction(stop_signals[i], &sa, NULL);
	fs_prefetch_set_store(fs, store_block);
}

void fs_ops_detach(struct fs *fs)
{
	struct fuse_session *se = fs->fuse_session;
	struct fuse_buf buf = {0};

	if (!se)
		return;
	fs_prefetch_set_store(fs, NULL);
	/* Ended by unmount: nothing reads any more, and a store still running finds the connection
	 * gone. Serve what is left anyway, briefly, in case a store waits for a queued read. */
	for (int i = 0; i < 20 && fs_prefetch_storing(fs); i++) {
		struct pollfd pfd = {.fd = fuse_session_fd(se), .events = POLLIN};
		int res;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		res = fuse_session_receive_buf(se, &buf);
		if (res > 0)
			fuse_session_process_buf(se, &buf);
		else if (res != -EINTR && res != -EAGAIN)
			break;
	}
	free(buf.mem);
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++) {
		struct sigaction now;

		if (sigaction(stop_signals[i], NULL, &now) == 0 && now.sa_handler == on_stop_signal)
			signal(stop_signals[i], SIG_DFL);
	}
	if (fs->stopper_made) {
		stop_pipe_write = -1;
		close(fs->stop_pipe[1]); /* the stopper reads end of file unless a signal came */
		pthread_join(fs->stopper, NULL);
		close(fs->stop_pipe[0]);
		fs->stopper_made = 0;
	}
	/* The loop has ended: handles the kernel did not release (a signal ended it with files
	 * open) go now, with their references and writer counts. */
	while (fs->handles)
		close_handle(fs, fs->handles, 0);
	pthread_mutex_destroy(&fs->handles_lock);
	fs->fuse_session = NULL;
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	int rc;

	if (h->flags & O_APPEND) {
		/* Without the kernel's writeback cache, appending is the file system's job. */
		pthread_rwlock_rdlock(&h->node->lock);
		off = (off_t)h->node->attr.size;
		pthread_rwlock_unlock(&h->node->lock);
	}
	/* As ext4: nothing at or past the maximum size; a write across it is cut short there. */
	if (off < 0 || (uint64_t)off >= FS_FILE_SIZE_MAX) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	if (size > FS_FILE_SIZE_MAX - (uint64_t)off)
		size = (size_t)(FS_FILE_SIZE_MAX - (uint64_t)off);
	rc = fs_file_write(fs, h->node, (uint64_t)off, (const uint8_t *)buf, size);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

/* The kernel answers SEEK_SET/CUR/END itself; SEEK_DATA and SEEK_HOLE come here. */
static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
                     struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	uint64_t at = 0;
	int rc;

	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	rc = fs_file_seek(req_fs(req), h->node, (uint64_t)off, whence, &at);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_lseek(req, (off_t)at);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                         struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	int known = mode & ~FALLOC_FL_KEEP_SIZE;

	if ((known && known != FALLOC_FL_PUNCH_HOLE && known != FALLOC_FL_ZERO_RANGE) ||
	    (known == FALLOC_FL_PUNCH_HOLE && !(mode & FALLOC_FL_KEEP_SIZE))) {
		fuse_reply_err(req, EOPNOTSUPP); /* collapse, insert, unshare: not kept up */
		return;
	}
	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((uint64_t)len > FS_FILE_SIZE_MAX || (uint64_t)off > FS_FILE_SIZE_MAX - (uint64_t)len) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	fuse_reply_err(
	    req, -fs_file_fallocate(req_fs(req), h->node, mode, (uint64_t)off, (uint64_t)len));
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;

	fuse_reply_err(req, -fs_file_flush(req_fs(req), h->node));
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	struct fs_node *n = h->node;
	int last;

	/* The last handle: blocks still queued ahead for it (up to two per read-ahead worker)
	 * would be decoded for no reader, holding workers from other files' readers. Dropped
	 * before the flush, which takes the node's lock exclusively and so waits for the workers
	 * decoding this file (they hold it shared), and would wait for each queued block they
	 * take meanwhile. Two last handles released at once may both see the other open and keep
	 * the queue: that costs only the work this saves. */
	pthread_rwlock_rdlock(&n->lock);
	last = n->open_count == 1;
	pthread_rwlock_unlock(&n->lock);
	if (last)
		fs_prefetch_forget(fs, n->ino);
	close_handle(fs, h, fs_file_flush(fs, n));
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	int rc = fs_file_flush(fs, h->node);

	if (!rc)
		rc = idx_sync(fs->idx);
	fuse_reply_err(req, -rc);
}

static int snapshot_add(void *arg, const char *name, size_t namelen, uint64_t ino, uint8_t dtype)
{
	struct dir_snapshot *s = arg;
	struct dir_entry *e;

	if (s->count == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct dir_entry *bigger = realloc(s->entries, cap * sizeof(*bigger));

		if (!bigger)
			return -ENOMEM;
		s->entries = bigger;
		s->cap = cap;
	}
	e = &s->entries[s->count];
	e->name = strndup(name, namelen);
	if (!e->name)
		return -ENOMEM;
	e->ino = ino;
	e->dtype = dtype;
	s->count++;
	return 0;
}

static void snapshot_free(struct dir_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->count; i++)
		free(s->entries[i].name);
	free(s->entries);
	free(s);
}

/* A directory listing is taken once at opendir: offsets are indexes into it, so entries added
 * or removed while a reader walks the directory never make it skip or repeat a name. */
static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct dir_snapshot *s = calloc(1, sizeof(*s));
	int rc;

	if (!s) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = fs_ns_dir_each(fs, ino, snapshot_add, s);
	if (rc)
		goto fail;
	fi->fh = (uint64_t)(uintptr_t)s;
	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi))
		snapshot_free(s);
	return;
fail:
	snapshot_free(s);
	fuse_reply_err(req, -rc);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi, int plus)
{
	struct fs *fs = req_fs(req);
	struct dir_snapshot *s = (struct dir_snapshot *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	size_t used = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < s->count; i++) {
		struct dir_entry *e = &s->entries[i];
		size_t len;

		if (plus) {
			struct fuse_entry_param ep;
			struct fs_node *n = NULL;

			memset(&ep, 0, sizeof(ep));
			if (i < 2) {
				/* "." and "..": no lookup is taken on them */
				ep.attr.st_ino = e->ino;
				ep.attr.st_mode = (mode_t)e->dtype << 12;
			} else if (fs_node_get(fs, e->ino, &n) == 0) {
				fill_entry(fs, n, &ep);
			} else {
				continue; /* removed since opendir */
			}
			len = fuse_add_direntry_plus(req, buf + used, size - used, e->name, &ep,
			                             (off_t)(i + 1));
			if (len > size - used) {
				if (n)
					fs_node_put(fs, n);
				break;
			}
			if (n) {
				fs_node_lookup_inc(fs, n);
				fs_node_put(fs, n);
			}
		} else {
			struct stat st;

			memset(&st, 0, sizeof(st));
			st.st_ino = e->ino;
			st.st_mode = (mode_t)e->dtype << 12;
			len = fuse_add_direntry(req, buf + used, size - used, e->name, &st,
			                        (off_t)(i + 1));
			if (len > size - used)
				break;
		}
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	snapshot_free((struct dir_snapshot *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, -idx_sync(req_fs(req)->idx));
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = req_fs(req);
	struct statvfs sv;

	if (statvfs(fs->archive, &sv)) {
		fuse_reply_err(req, errno);
		return;
	}
	sv.f_namemax = IDX_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
	struct fs_ns_who who = req_who(req);

	fuse_reply_err(req, -fs_ns_xattr_set(req_fs(req), &who, ino, name, value, size, flags));
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs_ns_who who = req_who(req);

	fuse_reply_err(req, -fs_ns_xattr_remove(req_fs(req), &who, ino, name));
}

/* size 0 asks for the length only (getxattr and listxattr alike). */
static void reply_xattr(fuse_req_t req, int rc, size_t size, const char *buf, size_t len)
{
	if (rc)
		fuse_reply_err(req, -rc);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf, len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs_ns_who who = req_who(req);
	char *buf = size ? malloc(size) : NULL;
	size_t len = 0;
	int rc =
	    size && !buf ? -ENOMEM : fs_ns_xattr_get(req_fs(req), &who, ino, name, buf, size, &len);

	reply_xattr(req, rc, size, buf, len);
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char *buf = size ? malloc(size) : NULL;
	size_t len = 0;
	int rc = size && !buf ? -ENOMEM : fs_ns_xattr_list(req_fs(req), ino, buf, size, &len);

	reply_xattr(req, rc, size, buf, len);
	free(buf);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct fs_ns_who who = req_who(req);

	fuse_reply_err(req, -fs_ns_access(req_fs(req), ino, &who, mask));
}

const struct fuse_lowlevel_ops fs_ops = {
    .init = op_init,
    .destroy = op_destroy,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .lseek = op_lseek,
    .fallocate = op_fallocate,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .fsyncdir = op_fsyncdir,
    .statfs = op_statfs,
    .setxattr = op_setxattr,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .removexattr = op_removexattr,
    .access = op_access,
    .create = op_create,
};
