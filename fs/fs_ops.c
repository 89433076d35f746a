/* The libfuse low-level operations: each turns one kernel request into node and index changes
 * and one reply. Namespace changes take fs->ns_lock, then the nodes they change (in ino
 * order), then one index write transaction, so the kernel never sees a half-made change. */
#define FUSE_USE_VERSION 312
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs.h"
#include "fs_file.h"
#include "fs_log.h"
#include "fs_node.h"
#include "fs_ops.h"
#include "fs_txn.h"

/* Attribute and entry caching in the kernel: every change goes through this daemon, so the
 * kernel's copy is only stale when a change it made itself is replied to, which updates it. */
#define FS_ATTR_TIMEOUT  1.0
#define FS_ENTRY_TIMEOUT 1.0
#define FS_XATTR_MAX     65536

struct fs_handle {
	struct fs_node *node;
	int flags;
};

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
	pthread_rwlock_rdlock(&n->lock);
	attr_to_stat(fs, &n->attr, st);
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

static int check_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return -ENOENT;
	if (len > IDX_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

static uint8_t mode_dtype(uint32_t mode)
{
	return (uint8_t)((mode & S_IFMT) >> 12);
}

/* Node locks in ino order, skipping duplicates, so two requests never wait on each other. */
static void lock_nodes(struct fs_node **nodes, size_t count)
{
	for (size_t i = 1; i < count; i++)
		for (size_t j = i;
		     j > 0 && (!nodes[j - 1] || (nodes[j] && nodes[j]->ino < nodes[j - 1]->ino));
		     j--) {
			struct fs_node *tmp = nodes[j];

			nodes[j] = nodes[j - 1];
			nodes[j - 1] = tmp;
		}
	for (size_t i = 0; i < count; i++)
		if (nodes[i] && (i == 0 || nodes[i] != nodes[i - 1]))
			pthread_rwlock_wrlock(&nodes[i]->lock);
}

static void unlock_nodes(struct fs_node **nodes, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (nodes[i] && (i == 0 || nodes[i] != nodes[i - 1]))
			pthread_rwlock_unlock(&nodes[i]->lock);
}

static int lookup_name(struct fs *fs, uint64_t parent, const char *name, uint64_t *ino,
                       uint8_t *dtype)
{
	struct idx_txn *t = NULL;
	int rc = idx_read_begin(fs->idx, &t);

	if (rc)
		return rc;
	rc = idx_dirent_get(t, parent, name, strlen(name), ino, dtype);
	idx_read_end(t);
	return rc;
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
	uint64_t ino;
	uint8_t dtype;
	int rc = check_name(name);

	if (!rc)
		rc = lookup_name(fs, parent, name, &ino, &dtype);
	if (!rc)
		rc = fs_node_get(fs, ino, &n);
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
	struct idx_inode before;
	struct fs_node *n;
	struct stat st;
	int64_t now = fs_now_ns();
	int rc = fs_node_get(fs, ino, &n);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_rwlock_wrlock(&n->lock);
	before = n->attr;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (S_ISDIR(n->attr.mode)) {
			rc = -EISDIR;
			goto out;
		}
		if (!S_ISREG(n->attr.mode)) {
			rc = -EINVAL;
			goto out;
		}
		if ((uint64_t)attr->st_size != n->attr.size) {
			n->attr.mtime_ns = n->attr.ctime_ns = now;
			rc = fs_file_truncate_locked(fs, n, (uint64_t)attr->st_size);
			if (rc)
				goto out;
			before = n->attr;
		}
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		n->attr.mode = (n->attr.mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		n->attr.uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		n->attr.gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_ATIME)
		n->attr.atime_ns = timespec_ns(&attr->st_atim);
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		n->attr.atime_ns = now;
	if (to_set & FUSE_SET_ATTR_MTIME)
		n->attr.mtime_ns = timespec_ns(&attr->st_mtim);
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		n->attr.mtime_ns = now;
	if (to_set & FUSE_SET_ATTR_CTIME)
		n->attr.ctime_ns = timespec_ns(&attr->st_ctim);
	else
		n->attr.ctime_ns = now;
	n->attr_dirty = 1;
	rc = fs_file_flush_locked(fs, n);
	if (rc) {
		n->attr = before;
		n->attr_dirty = 0;
	}
out:
	if (!rc)
		attr_to_stat(fs, &n->attr, &st);
	pthread_rwlock_unlock(&n->lock);
	fs_node_put(fs, n);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, FS_ATTR_TIMEOUT);
}

struct make_op {
	const struct fuse_ctx *ctx;
	struct fs_node *parent;
	const char *name;
	mode_t mode;
	dev_t rdev;
	int64_t now;
	uint64_t ino; /* the new inode, once made */
};

static int make_txn(struct idx_txn *t, void *arg)
{
	struct make_op *op = arg;
	struct fs_node *parent = op->parent;
	struct idx_inode attr;
	uint64_t existing;
	uint8_t dtype;
	int rc;

	rc = idx_dirent_get(t, parent->ino, op->name, strlen(op->name), &existing, &dtype);
	if (rc == 0)
		rc = -EEXIST;
	else if (rc == -ENOENT)
		rc = idx_ino_alloc(t, &op->ino);
	if (rc)
		return rc;
	memset(&attr, 0, sizeof(attr));
	attr.ino = op->ino;
	attr.mode = op->mode;
	attr.uid = op->ctx->uid;
	attr.gid = op->ctx->gid;
	if (parent->attr.mode & S_ISGID) {
		/* BSD group semantics under a setgid directory, as ext4 does. */
		attr.gid = parent->attr.gid;
		if (S_ISDIR(op->mode))
			attr.mode |= S_ISGID;
	}
	attr.nlink = S_ISDIR(op->mode) ? 2 : 1;
	attr.rdev = op->rdev;
	attr.atime_ns = attr.mtime_ns = attr.ctime_ns = op->now;
	attr.generation = 1;
	rc = idx_inode_put(t, &attr);
	if (!rc)
		rc = idx_dirent_put(t, parent->ino, op->name, strlen(op->name), op->ino,
		                    mode_dtype(op->mode));
	if (rc)
		return rc;
	if (S_ISDIR(op->mode))
		parent->attr.nlink++;
	parent->attr.mtime_ns = parent->attr.ctime_ns = op->now;
	return fs_node_store_attr(t, parent);
}

/* Makes a new inode named `name` in `parent`; on success *out holds a reference. */
static int make_node(fuse_req_t req, uint64_t parent_ino, const char *name, mode_t mode, dev_t rdev,
                     struct fs_node **out)
{
	struct fs *fs = req_fs(req);
	struct make_op op = {
	    .ctx = fuse_req_ctx(req),
	    .name = name,
	    .mode = mode,
	    .rdev = rdev,
	    .now = fs_now_ns(),
	};
	int rc;

	rc = check_name(name);
	if (rc)
		return rc;
	pthread_mutex_lock(&fs->ns_lock);
	rc = fs_node_get(fs, parent_ino, &op.parent);
	if (rc)
		goto out_unlock;
	pthread_rwlock_wrlock(&op.parent->lock);
	if (!S_ISDIR(op.parent->attr.mode)) {
		rc = -ENOTDIR;
		goto out;
	}
	if (op.parent->attr.nlink == 0) {
		rc = -ENOENT; /* the directory was removed */
		goto out;
	}
	rc = fs_txn_run(fs, &op.parent, 1, make_txn, &op);
	if (!rc)
		rc = fs_node_get(fs, op.ino, out);
out:
	pthread_rwlock_unlock(&op.parent->lock);
	fs_node_put(fs, op.parent);
out_unlock:
	pthread_mutex_unlock(&fs->ns_lock);
	return rc;
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct fs *fs;
	struct fs_node *n;
	int rc;

	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode) && !S_ISCHR(mode) &&
	    !S_ISBLK(mode)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	rc = make_node(req, parent, name, mode, rdev, &n);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fs = req_fs(req);
	reply_entry(req, fs, n); /* req is gone after its reply */
	fs_node_put(fs, n);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs *fs;
	struct fs_node *n;
	int rc = make_node(req, parent, name, S_IFDIR | (mode & 07777), 0, &n);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fs = req_fs(req);
	reply_entry(req, fs, n); /* req is gone after its reply */
	fs_node_put(fs, n);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct fs *fs = req_fs(req);
	struct fs_node *n;
	size_t len = strlen(link);
	int rc;

	if (len == 0 || len >= 4096) {
		fuse_reply_err(req, len ? ENAMETOOLONG : ENOENT);
		return;
	}
	rc = make_node(req, parent, name, S_IFLNK | 0777, 0, &n);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	/* The target is the symlink's data: stored and checksummed like any file's. */
	rc = fs_file_write(fs, n, 0, (const uint8_t *)link, len);
	if (!rc)
		rc = fs_file_flush(fs, n);
	if (rc) {
		fs_node_put(fs, n);
		fuse_reply_err(req, -rc);
		return;
	}
	reply_entry(req, fs, n);
	fs_node_put(fs, n);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = req_fs(req);
	char target[4097];
	struct fs_node *n;
	size_t got = 0;
	int rc = fs_node_get(fs, ino, &n);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (!S_ISLNK(n->attr.mode))
		rc = -EINVAL;
	else
		rc = fs_file_read(fs, n, 0, sizeof(target) - 1, (uint8_t *)target, &got);
	fs_node_put(fs, n);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	target[got] = '\0';
	fuse_reply_readlink(req, target);
}

/* Drops one link of `n` in an open transaction; the inode becomes an orphan at zero links, and
 * is freed when the kernel and every open file are done with it. */
static int drop_link(struct idx_txn *t, struct fs_node *n, int64_t now)
{
	if (S_ISDIR(n->attr.mode))
		n->attr.nlink = 0;
	else if (n->attr.nlink > 0)
		n->attr.nlink--;
	n->attr.ctime_ns = now;
	if (n->attr.nlink == 0) {
		int rc = idx_orphan_add(t, n->ino);

		if (rc)
			return rc;
	}
	return fs_node_store_attr(t, n);
}

struct remove_op {
	struct fs_node *parent, *child;
	const char *name;
	int want_dir;
	int64_t now;
};

static int remove_txn(struct idx_txn *t, void *arg)
{
	struct remove_op *op = arg;
	int rc;

	if (op->want_dir) {
		rc = idx_dir_empty(t, op->child->ino);
		if (rc)
			return rc;
	}
	rc = idx_dirent_del(t, op->parent->ino, op->name, strlen(op->name));
	if (!rc)
		rc = drop_link(t, op->child, op->now);
	if (rc)
		return rc;
	if (op->want_dir)
		op->parent->attr.nlink--;
	op->parent->attr.mtime_ns = op->parent->attr.ctime_ns = op->now;
	return fs_node_store_attr(t, op->parent);
}

static int remove_entry(fuse_req_t req, uint64_t parent_ino, const char *name, int want_dir)
{
	struct fs *fs = req_fs(req);
	struct fs_node *nodes[2] = {NULL, NULL};
	struct remove_op op = {.name = name, .want_dir = want_dir, .now = fs_now_ns()};
	uint64_t ino;
	uint8_t dtype;
	int rc;

	rc = check_name(name);
	if (rc)
		return rc;
	pthread_mutex_lock(&fs->ns_lock);
	rc = lookup_name(fs, parent_ino, name, &ino, &dtype);
	if (rc)
		goto out_unlock;
	rc = fs_node_get(fs, parent_ino, &op.parent);
	if (!rc)
		rc = fs_node_get(fs, ino, &op.child);
	if (rc)
		goto out_put;
	nodes[0] = op.parent;
	nodes[1] = op.child;
	lock_nodes(nodes, 2);
	if (want_dir && !S_ISDIR(op.child->attr.mode)) {
		rc = -ENOTDIR;
		goto out;
	}
	if (!want_dir && S_ISDIR(op.child->attr.mode)) {
		rc = -EISDIR;
		goto out;
	}
	rc = fs_txn_run(fs, nodes, 2, remove_txn, &op);
out:
	unlock_nodes(nodes, 2);
out_put:
	if (op.child)
		fs_node_put(fs, op.child);
	if (op.parent)
		fs_node_put(fs, op.parent);
out_unlock:
	pthread_mutex_unlock(&fs->ns_lock);
	return rc;
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -remove_entry(req, parent, name, 0));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -remove_entry(req, parent, name, 1));
}

struct rename_op {
	struct fs_node *parent, *newparent, *src, *dst; /* dst: NULL when newname is free */
	const char *name, *newname;
	uint64_t src_ino, dst_ino;
	uint8_t src_type, dst_type;
	unsigned int flags;
	int64_t now;
};

static int rename_txn(struct idx_txn *t, void *arg)
{
	struct rename_op *op = arg;
	struct fs_node *parent = op->parent, *newparent = op->newparent;
	struct fs_node *src = op->src, *dst = op->dst;
	int rc;

	if (op->flags & RENAME_EXCHANGE) {
		rc = idx_dirent_put(t, parent->ino, op->name, strlen(op->name), op->dst_ino,
		                    op->dst_type);
		if (!rc)
			rc = idx_dirent_put(t, newparent->ino, op->newname, strlen(op->newname),
			                    op->src_ino, op->src_type);
		if (rc)
			return rc;
		if (parent != newparent && S_ISDIR(src->attr.mode) != S_ISDIR(dst->attr.mode)) {
			/* A directory changed parent: the ".." links move with it. */
			if (S_ISDIR(src->attr.mode)) {
				parent->attr.nlink--;
				newparent->attr.nlink++;
			} else {
				parent->attr.nlink++;
				newparent->attr.nlink--;
			}
		}
		dst->attr.ctime_ns = op->now;
		rc = fs_node_store_attr(t, dst);
		if (rc)
			return rc;
	} else {
		if (dst) {
			if (S_ISDIR(dst->attr.mode)) {
				rc = idx_dir_empty(t, op->dst_ino);
				if (rc)
					return rc;
				newparent->attr.nlink--;
			}
			rc = drop_link(t, dst, op->now);
			if (rc)
				return rc;
		}
		rc = idx_dirent_put(t, newparent->ino, op->newname, strlen(op->newname),
		                    op->src_ino, op->src_type);
		if (!rc)
			rc = idx_dirent_del(t, parent->ino, op->name, strlen(op->name));
		if (rc)
			return rc;
		if (S_ISDIR(src->attr.mode) && parent != newparent) {
			parent->attr.nlink--;
			newparent->attr.nlink++;
		}
	}
	src->attr.ctime_ns = op->now;
	parent->attr.mtime_ns = parent->attr.ctime_ns = op->now;
	newparent->attr.mtime_ns = newparent->attr.ctime_ns = op->now;
	rc = fs_node_store_attr(t, src);
	if (!rc)
		rc = fs_node_store_attr(t, parent);
	if (!rc && newparent != parent)
		rc = fs_node_store_attr(t, newparent);
	return rc;
}

static int do_rename(fuse_req_t req, uint64_t parent_ino, const char *name, uint64_t newparent_ino,
                     const char *newname, unsigned int flags)
{
	struct fs *fs = req_fs(req);
	struct fs_node *nodes[4] = {NULL, NULL, NULL, NULL};
	struct rename_op op = {
	    .name = name,
	    .newname = newname,
	    .flags = flags,
	    .now = fs_now_ns(),
	};
	int rc, have_dst;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return -EINVAL;
	rc = check_name(name);
	if (!rc)
		rc = check_name(newname);
	if (rc)
		return rc;
	pthread_mutex_lock(&fs->ns_lock);
	rc = lookup_name(fs, parent_ino, name, &op.src_ino, &op.src_type);
	if (rc)
		goto out_unlock;
	rc = lookup_name(fs, newparent_ino, newname, &op.dst_ino, &op.dst_type);
	if (rc && rc != -ENOENT)
		goto out_unlock;
	have_dst = rc == 0;
	rc = 0;
	if ((flags & RENAME_EXCHANGE) && !have_dst) {
		rc = -ENOENT;
		goto out_unlock;
	}
	if ((flags & RENAME_NOREPLACE) && have_dst) {
		rc = -EEXIST;
		goto out_unlock;
	}
	if (have_dst && op.dst_ino == op.src_ino)
		goto out_unlock; /* two names of one inode: POSIX says do nothing */
	rc = fs_node_get(fs, parent_ino, &op.parent);
	if (!rc)
		rc = fs_node_get(fs, newparent_ino, &op.newparent);
	if (!rc)
		rc = fs_node_get(fs, op.src_ino, &op.src);
	if (!rc && have_dst)
		rc = fs_node_get(fs, op.dst_ino, &op.dst);
	if (rc)
		goto out_put;
	nodes[0] = op.parent;
	nodes[1] = op.newparent;
	nodes[2] = op.src;
	nodes[3] = op.dst;
	lock_nodes(nodes, 4);
	if (!S_ISDIR(op.newparent->attr.mode)) {
		rc = -ENOTDIR;
		goto out;
	}
	if (op.newparent->attr.nlink == 0) {
		rc = -ENOENT;
		goto out;
	}
	if (op.dst && !(flags & RENAME_EXCHANGE)) {
		if (S_ISDIR(op.src->attr.mode) && !S_ISDIR(op.dst->attr.mode)) {
			rc = -ENOTDIR;
			goto out;
		}
		if (!S_ISDIR(op.src->attr.mode) && S_ISDIR(op.dst->attr.mode)) {
			rc = -EISDIR;
			goto out;
		}
	}
	rc = fs_txn_run(fs, nodes, 4, rename_txn, &op);
out:
	unlock_nodes(nodes, 4);
out_put:
	if (op.dst)
		fs_node_put(fs, op.dst);
	if (op.src)
		fs_node_put(fs, op.src);
	if (op.newparent)
		fs_node_put(fs, op.newparent);
	if (op.parent)
		fs_node_put(fs, op.parent);
out_unlock:
	pthread_mutex_unlock(&fs->ns_lock);
	return rc;
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
	fuse_reply_err(req, -do_rename(req, parent, name, newparent, newname, flags));
}

struct link_op {
	struct fs_node *n, *newparent;
	const char *newname;
	int64_t now;
};

static int link_txn(struct idx_txn *t, void *arg)
{
	struct link_op *op = arg;
	struct fs_node *n = op->n, *newparent = op->newparent;
	uint64_t existing;
	uint8_t dtype;
	int rc;

	rc = idx_dirent_get(t, newparent->ino, op->newname, strlen(op->newname), &existing, &dtype);
	if (rc == 0)
		rc = -EEXIST;
	else if (rc == -ENOENT)
		rc = idx_dirent_put(t, newparent->ino, op->newname, strlen(op->newname), n->ino,
		                    mode_dtype(n->attr.mode));
	if (rc)
		return rc;
	n->attr.nlink++;
	n->attr.ctime_ns = op->now;
	newparent->attr.mtime_ns = newparent->attr.ctime_ns = op->now;
	rc = fs_node_store_attr(t, n);
	if (!rc)
		rc = fs_node_store_attr(t, newparent);
	return rc;
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent_ino, const char *newname)
{
	struct fs *fs = req_fs(req);
	struct fs_node *nodes[2] = {NULL, NULL};
	struct link_op op = {.newname = newname, .now = fs_now_ns()};
	int rc;

	rc = check_name(newname);
	if (rc)
		goto reply;
	pthread_mutex_lock(&fs->ns_lock);
	rc = fs_node_get(fs, ino, &op.n);
	if (!rc)
		rc = fs_node_get(fs, newparent_ino, &op.newparent);
	if (rc)
		goto out_put;
	nodes[0] = op.n;
	nodes[1] = op.newparent;
	lock_nodes(nodes, 2);
	if (S_ISDIR(op.n->attr.mode)) {
		rc = -EPERM;
		goto out;
	}
	if (op.n->attr.nlink == 0 || op.newparent->attr.nlink == 0) {
		rc = -ENOENT;
		goto out;
	}
	if (op.n->attr.nlink >= UINT32_MAX - 1) {
		rc = -EMLINK;
		goto out;
	}
	rc = fs_txn_run(fs, nodes, 2, link_txn, &op);
out:
	unlock_nodes(nodes, 2);
out_put:
	pthread_mutex_unlock(&fs->ns_lock);
	if (!rc) {
		reply_entry(req, fs, op.n);
		fs_node_put(fs, op.n);
		fs_node_put(fs, op.newparent);
		return;
	}
	if (op.n)
		fs_node_put(fs, op.n);
	if (op.newparent)
		fs_node_put(fs, op.newparent);
reply:
	fuse_reply_err(req, -rc);
}

static int open_handle(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	struct fs_handle *h = malloc(sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->node = n; /* keeps the caller's reference until release */
	h->flags = fi->flags;
	pthread_rwlock_wrlock(&n->lock);
	n->open_count++;
	pthread_rwlock_unlock(&n->lock);
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->keep_cache = 1;
	return 0;
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fuse_entry_param e;
	struct fs_node *n;
	int rc = make_node(req, parent, name, S_IFREG | (mode & 07777), 0, &n);

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
	int rc = fs_node_get(fs, ino, &n);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (S_ISDIR(n->attr.mode)) {
		fs_node_put(fs, n);
		fuse_reply_err(req, EISDIR);
		return;
	}
	rc = open_handle(fs, n, fi);
	if (rc) {
		fs_node_put(fs, n);
		fuse_reply_err(req, -rc);
		return;
	}
	if (fuse_reply_open(req, fi)) {
		/* Interrupted: the kernel will not send a release for this handle. */
		struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;

		pthread_rwlock_wrlock(&n->lock);
		n->open_count--;
		pthread_rwlock_unlock(&n->lock);
		free(h);
		fs_node_put(fs, n);
	}
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	uint8_t *buf = malloc(size ? size : 1);
	size_t got = 0;
	int rc;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = fs_file_read(fs, h->node, (uint64_t)off, size, buf, &got);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, (const char *)buf, got);
	free(buf);
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
	if ((uint64_t)off + size < (uint64_t)off) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	rc = fs_file_write(fs, h->node, (uint64_t)off, (const uint8_t *)buf, size);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
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
	int rc = fs_file_flush(fs, n);

	pthread_rwlock_wrlock(&n->lock);
	if (rc) {
		fs_log("inode %llu: flush at close failed: %s; unstored writes are dropped",
		       (unsigned long long)n->ino, strerror(-rc));
		fs_file_revert_locked(fs, n);
	}
	n->open_count--;
	pthread_rwlock_unlock(&n->lock);
	free(h);
	fs_node_put(fs, n);
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
	struct idx_txn *t = NULL;
	struct fs_node *n;
	int rc;

	if (!s) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = fs_node_get(fs, ino, &n);
	if (rc)
		goto fail;
	if (!S_ISDIR(n->attr.mode))
		rc = -ENOTDIR;
	fs_node_put(fs, n);
	if (rc)
		goto fail;
	rc = snapshot_add(s, ".", 1, ino, DT_DIR);
	if (!rc)
		rc = snapshot_add(s, "..", 2, ino, DT_DIR);
	if (!rc)
		rc = idx_read_begin(fs->idx, &t);
	if (rc)
		goto fail;
	rc = idx_dirent_each(t, ino, snapshot_add, s);
	idx_read_end(t);
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

/* Which xattr namespaces may be set: system.* would promise ACLs this file system does not
 * enforce, and trusted.* is for privileged processes only, as on ext4. */
static int xattr_allowed(fuse_req_t req, const char *name, int modify)
{
	if (strlen(name) > 255)
		return -ERANGE;
	if (!strncmp(name, "system.", 7))
		return -EOPNOTSUPP;
	if (!strncmp(name, "trusted.", 8) && fuse_req_ctx(req)->uid != 0)
		return modify ? -EPERM : -ENODATA;
	if (modify && !strncmp(name, "security.", 9) && fuse_req_ctx(req)->uid != 0)
		return -EPERM;
	if (strncmp(name, "user.", 5) && strncmp(name, "trusted.", 8) &&
	    strncmp(name, "security.", 9))
		return -EOPNOTSUPP;
	return 0;
}

struct xattr_op {
	struct fs_node *n;
	const char *name;
	const void *value; /* NULL: remove */
	size_t size;
	int flags;
};

static int xattr_txn(struct idx_txn *t, void *arg)
{
	struct xattr_op *op = arg;
	uint64_t ino = op->n->ino;
	size_t len = 0;
	int rc, exists;

	rc = idx_xattr_get(t, ino, op->name, NULL, &len); /* len 0: only ask whether it exists */
	if (rc && rc != -ENODATA && rc != -ENOENT)
		return rc;
	exists = rc == 0;
	if (!op->value)
		rc = exists ? idx_xattr_del(t, ino, op->name) : -ENODATA;
	else if ((op->flags & XATTR_CREATE) && exists)
		rc = -EEXIST;
	else if ((op->flags & XATTR_REPLACE) && !exists)
		rc = -ENODATA;
	else
		rc = idx_xattr_put(t, ino, op->name, op->value, op->size);
	if (rc)
		return rc;
	op->n->attr.ctime_ns = fs_now_ns();
	return fs_node_store_attr(t, op->n);
}

/* Runs one xattr change in a transaction and bumps ctime with it. */
static int xattr_change(struct fs *fs, fuse_ino_t ino, const char *name, const void *value,
                        size_t size, int flags)
{
	struct xattr_op op = {.name = name, .value = value, .size = size, .flags = flags};
	int rc;

	rc = fs_node_get(fs, ino, &op.n);
	if (rc)
		return rc;
	pthread_rwlock_wrlock(&op.n->lock);
	rc = fs_txn_run(fs, &op.n, 1, xattr_txn, &op);
	pthread_rwlock_unlock(&op.n->lock);
	fs_node_put(fs, op.n);
	return rc;
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
	int rc = xattr_allowed(req, name, 1);

	if (!rc && size > FS_XATTR_MAX)
		rc = -E2BIG;
	if (!rc)
		rc = xattr_change(req_fs(req), ino, name, value ? value : "", size, flags);
	fuse_reply_err(req, -rc);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	int rc = xattr_allowed(req, name, 1);

	if (!rc)
		rc = xattr_change(req_fs(req), ino, name, NULL, 0, 0);
	fuse_reply_err(req, -rc);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = req_fs(req);
	struct idx_txn *t = NULL;
	char *buf = NULL;
	size_t len = 0;
	int rc = xattr_allowed(req, name, 0);

	if (rc == -EOPNOTSUPP)
		rc = -ENODATA; /* reading an unsupported namespace finds nothing */
	if (rc)
		goto reply;
	rc = idx_read_begin(fs->idx, &t);
	if (rc)
		goto reply;
	rc = idx_xattr_get(t, ino, name, NULL, &len);
	if (!rc && size) {
		if (len > size) {
			rc = -ERANGE;
		} else {
			buf = malloc(len ? len : 1);
			rc = buf ? idx_xattr_get(t, ino, name, buf, &len) : -ENOMEM;
		}
	}
	idx_read_end(t);
reply:
	if (rc == -ENOENT)
		rc = -ENODATA;
	if (rc)
		fuse_reply_err(req, -rc);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = req_fs(req);
	struct idx_txn *t = NULL;
	char *buf = NULL;
	size_t len = 0;
	int rc = idx_read_begin(fs->idx, &t);

	if (rc)
		goto reply;
	rc = idx_xattr_list(t, ino, NULL, 0, &len);
	if (!rc && size) {
		if (len > size) {
			rc = -ERANGE;
		} else {
			buf = malloc(len ? len : 1);
			rc = buf ? idx_xattr_list(t, ino, buf, len, &len) : -ENOMEM;
		}
	}
	idx_read_end(t);
reply:
	if (rc)
		fuse_reply_err(req, -rc);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct fs *fs = req_fs(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fs_node *n;
	uint32_t mode, granted;
	int rc = fs_node_get(fs, ino, &n);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_rwlock_rdlock(&n->lock);
	mode = n->attr.mode;
	if (ctx->uid == 0)
		granted = (mode & 0111) || S_ISDIR(mode) ? 7 : 6;
	else if (ctx->uid == n->attr.uid)
		granted = (mode >> 6) & 7;
	else if (ctx->gid == n->attr.gid)
		granted = (mode >> 3) & 7;
	else
		granted = mode & 7;
	pthread_rwlock_unlock(&n->lock);
	fs_node_put(fs, n);
	fuse_reply_err(req, (mask & ~(int)granted) & 7 ? EACCES : 0);
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
