/* The namespace: each change takes fs->ns_lock, then the nodes it changes (in ino order), then
 * one index write transaction, so nobody sees a half-made change. The kernel's view is fs_ops.c's
 * business; nothing here knows of FUSE. */
#include <dirent.h>
#include <errno.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "fs.h"
#include "fs_file.h"
#include "fs_log.h"
#include "fs_node.h"
#include "fs_ns.h"
#include "fs_txn.h"

#define FS_XATTR_MAX 65536

static int check_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return -ENOENT;
	if (len > IDX_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* The one place that says what a request on the wrong kind of inode gets: a directory where a
 * non-directory is wanted is EISDIR, the reverse ENOTDIR (as unlink, rmdir, rename, open and
 * opendir answer on Linux). */
static int check_kind(const struct fs_node *n, int want_dir)
{
	if (want_dir && !S_ISDIR(n->attr.mode))
		return -ENOTDIR;
	if (!want_dir && S_ISDIR(n->attr.mode))
		return -EISDIR;
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

int fs_ns_lookup(struct fs *fs, uint64_t parent, const char *name, struct fs_node **out)
{
	uint64_t ino;
	uint8_t dtype;
	int rc = check_name(name);

	if (!rc)
		rc = lookup_name(fs, parent, name, &ino, &dtype);
	if (!rc)
		rc = fs_node_get(fs, ino, out);
	return rc;
}

int fs_ns_setattr(struct fs *fs, uint64_t ino, const struct fs_ns_setattr *a, struct idx_inode *out)
{
	struct idx_inode before;
	struct fs_node *n;
	int64_t now = fs_now_ns();
	int rc = fs_node_get(fs, ino, &n);

	if (rc)
		return rc;
	pthread_rwlock_wrlock(&n->lock);
	fs_node_atime_fold(n); /* a read's atime, unless this sets another */
	before = n->attr;
	if (a->set & FS_NS_SET_SIZE) {
		rc = check_kind(n, 0);
		if (!rc && !S_ISREG(n->attr.mode))
			rc = -EINVAL;
		if (rc)
			goto out;
		if (a->size != n->attr.size) {
			n->attr.mtime_ns = n->attr.ctime_ns = now;
			rc = fs_file_truncate_locked(fs, n, a->size);
			if (rc)
				goto out;
			before = n->attr;
		}
	}
	if (a->set & FS_NS_SET_MODE)
		n->attr.mode = (n->attr.mode & S_IFMT) | (a->mode & 07777);
	if (a->set & FS_NS_SET_UID)
		n->attr.uid = a->uid;
	if (a->set & FS_NS_SET_GID)
		n->attr.gid = a->gid;
	if (a->set & FS_NS_SET_ATIME)
		n->attr.atime_ns = a->atime_ns;
	if (a->set & FS_NS_SET_ATIME_NOW)
		n->attr.atime_ns = now;
	if (a->set & FS_NS_SET_MTIME)
		n->attr.mtime_ns = a->mtime_ns;
	if (a->set & FS_NS_SET_MTIME_NOW)
		n->attr.mtime_ns = now;
	if (a->set & FS_NS_SET_CTIME)
		n->attr.ctime_ns = a->ctime_ns;
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
		*out = n->attr;
	pthread_rwlock_unlock(&n->lock);
	fs_node_put(fs, n);
	return rc;
}

struct make_op {
	const struct fs_ns_who *who;
	struct fs_node *parent;
	const char *name;
	uint32_t mode;
	uint64_t rdev;
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
	attr.uid = op->who->uid;
	attr.gid = op->who->gid;
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
static int make_node(struct fs *fs, const struct fs_ns_who *who, uint64_t parent_ino,
                     const char *name, uint32_t mode, uint64_t rdev, struct fs_node **out)
{
	struct make_op op = {
	    .who = who,
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
	rc = check_kind(op.parent, 1);
	if (rc)
		goto out;
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

int fs_ns_mknod(struct fs *fs, const struct fs_ns_who *who, uint64_t parent, const char *name,
                uint32_t mode, uint64_t rdev, struct fs_node **out)
{
	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode) && !S_ISCHR(mode) &&
	    !S_ISBLK(mode))
		return -EINVAL;
	return make_node(fs, who, parent, name, mode, rdev, out);
}

int fs_ns_mkdir(struct fs *fs, const struct fs_ns_who *who, uint64_t parent, const char *name,
                uint32_t perm, struct fs_node **out)
{
	return make_node(fs, who, parent, name, S_IFDIR | (perm & 07777), 0, out);
}

int fs_ns_symlink(struct fs *fs, const struct fs_ns_who *who, uint64_t parent, const char *name,
                  const char *target, struct fs_node **out)
{
	struct fs_node *n;
	size_t len = strlen(target);
	int rc;

	if (len == 0 || len >= 4096)
		return len ? -ENAMETOOLONG : -ENOENT;
	rc = make_node(fs, who, parent, name, S_IFLNK | 0777, 0, &n);
	if (rc)
		return rc;
	/* The target is the symlink's data: stored and checksummed like any file's. */
	rc = fs_file_write(fs, n, 0, (const uint8_t *)target, len);
	if (!rc)
		rc = fs_file_flush(fs, n);
	if (rc) {
		fs_node_put(fs, n);
		return rc;
	}
	*out = n;
	return 0;
}

int fs_ns_readlink(struct fs *fs, uint64_t ino, char *buf, size_t size, size_t *len)
{
	struct fs_node *n;
	int rc = fs_node_get(fs, ino, &n);

	if (rc)
		return rc;
	*len = 0;
	if (!S_ISLNK(n->attr.mode))
		rc = -EINVAL;
	else
		rc = fs_file_read(fs, n, 0, size, (uint8_t *)buf, len);
	fs_node_put(fs, n);
	return rc;
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

static int remove_entry(struct fs *fs, uint64_t parent_ino, const char *name, int want_dir)
{
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
	rc = check_kind(op.child, want_dir);
	if (!rc)
		rc = fs_txn_run(fs, nodes, 2, remove_txn, &op);
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

int fs_ns_unlink(struct fs *fs, uint64_t parent, const char *name)
{
	return remove_entry(fs, parent, name, 0);
}

int fs_ns_rmdir(struct fs *fs, uint64_t parent, const char *name)
{
	return remove_entry(fs, parent, name, 1);
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

int fs_ns_rename(struct fs *fs, uint64_t parent_ino, const char *name, uint64_t newparent_ino,
                 const char *newname, unsigned int flags)
{
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
	rc = check_kind(op.newparent, 1);
	if (rc)
		goto out;
	if (op.newparent->attr.nlink == 0) {
		rc = -ENOENT;
		goto out;
	}
	/* A name is replaced only by one of the same kind. */
	if (op.dst && !(flags & RENAME_EXCHANGE))
		rc = check_kind(op.dst, S_ISDIR(op.src->attr.mode));
	if (!rc)
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

int fs_ns_link(struct fs *fs, uint64_t ino, uint64_t newparent_ino, const char *newname,
               struct fs_node **out)
{
	struct fs_node *nodes[2] = {NULL, NULL};
	struct link_op op = {.newname = newname, .now = fs_now_ns()};
	int rc;

	rc = check_name(newname);
	if (rc)
		return rc;
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
	if (op.newparent)
		fs_node_put(fs, op.newparent);
	if (!rc) {
		*out = op.n;
		return 0;
	}
	if (op.n)
		fs_node_put(fs, op.n);
	return rc;
}

int fs_ns_open(struct fs *fs, uint64_t ino, struct fs_node **out)
{
	struct fs_node *n;
	int rc = fs_node_get(fs, ino, &n);

	if (rc)
		return rc;
	rc = check_kind(n, 0);
	if (rc) {
		fs_node_put(fs, n);
		return rc;
	}
	*out = n;
	return 0;
}

int fs_ns_dir_each(struct fs *fs, uint64_t ino, idx_dirent_cb cb, void *arg)
{
	struct idx_txn *t = NULL;
	struct fs_node *n;
	int rc;

	rc = fs_node_get(fs, ino, &n);
	if (rc)
		return rc;
	rc = check_kind(n, 1);
	fs_node_put(fs, n);
	if (rc)
		return rc;
	rc = cb(arg, ".", 1, ino, DT_DIR);
	if (!rc)
		rc = cb(arg, "..", 2, ino, DT_DIR);
	if (!rc)
		rc = idx_read_begin(fs->idx, &t);
	if (rc)
		return rc;
	rc = idx_dirent_each(t, ino, cb, arg);
	idx_read_end(t);
	return rc;
}

int fs_ns_access(struct fs *fs, uint64_t ino, const struct fs_ns_who *who, int mask)
{
	struct fs_node *n;
	uint32_t mode, granted;
	int rc = fs_node_get(fs, ino, &n);

	if (rc)
		return rc;
	pthread_rwlock_rdlock(&n->lock);
	mode = n->attr.mode;
	if (who->uid == 0)
		granted = (mode & 0111) || S_ISDIR(mode) ? 7 : 6;
	else if (who->uid == n->attr.uid)
		granted = (mode >> 6) & 7;
	else if (who->gid == n->attr.gid)
		granted = (mode >> 3) & 7;
	else
		granted = mode & 7;
	pthread_rwlock_unlock(&n->lock);
	fs_node_put(fs, n);
	return (mask & ~(int)granted) & 7 ? -EACCES : 0;
}

/* Which xattr namespaces may be set: system.* would promise ACLs this file system does not
 * enforce, and trusted.* is for privileged processes only, as on ext4. */
static int xattr_allowed(const struct fs_ns_who *who, const char *name, int modify)
{
	if (strlen(name) > 255)
		return -ERANGE;
	if (!strncmp(name, "system.", 7))
		return -EOPNOTSUPP;
	if (!strncmp(name, "trusted.", 8) && who->uid != 0)
		return modify ? -EPERM : -ENODATA;
	if (modify && !strncmp(name, "security.", 9) && who->uid != 0)
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
static int xattr_change(struct fs *fs, uint64_t ino, const char *name, const void *value,
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

int fs_ns_xattr_set(struct fs *fs, const struct fs_ns_who *who, uint64_t ino, const char *name,
                    const void *value, size_t size, int flags)
{
	int rc = xattr_allowed(who, name, 1);

	if (!rc && size > FS_XATTR_MAX)
		rc = -E2BIG;
	if (!rc)
		rc = xattr_change(fs, ino, name, value ? value : "", size, flags);
	return rc;
}

int fs_ns_xattr_remove(struct fs *fs, const struct fs_ns_who *who, uint64_t ino, const char *name)
{
	int rc = xattr_allowed(who, name, 1);

	if (!rc)
		rc = xattr_change(fs, ino, name, NULL, 0, 0);
	return rc;
}

int fs_ns_xattr_get(struct fs *fs, const struct fs_ns_who *who, uint64_t ino, const char *name,
                    void *buf, size_t size, size_t *len)
{
	struct idx_txn *t = NULL;
	int rc = xattr_allowed(who, name, 0);

	*len = 0;
	if (rc == -EOPNOTSUPP)
		rc = -ENODATA; /* reading an unsupported namespace finds nothing */
	if (rc)
		return rc;
	rc = idx_read_begin(fs->idx, &t);
	if (rc)
		return rc;
	rc = idx_xattr_get(t, ino, name, NULL, len);
	if (!rc && size) {
		if (*len > size)
			rc = -ERANGE;
		else
			rc = idx_xattr_get(t, ino, name, buf, len);
	}
	idx_read_end(t);
	return rc == -ENOENT ? -ENODATA : rc;
}

int fs_ns_xattr_list(struct fs *fs, uint64_t ino, char *buf, size_t size, size_t *len)
{
	struct idx_txn *t = NULL;
	int rc = idx_read_begin(fs->idx, &t);

	*len = 0;
	if (rc)
		return rc;
	rc = idx_xattr_list(t, ino, NULL, 0, len);
	if (!rc && size) {
		if (*len > size)
			rc = -ERANGE;
		else
			rc = idx_xattr_list(t, ino, buf, *len, len);
	}
	idx_read_end(t);
	return rc;
}
