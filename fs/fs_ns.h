/* fs_ns — the namespace and the rules of inode metadata, with nothing of FUSE in them (fs_ns.c):
 * what create, mkdir, mknod, symlink, link, unlink, rmdir, rename, setattr, access and the
 * xattr calls do to directory entries, link counts and attributes. fs_ops.c translates kernel
 * requests into these calls and their results into replies, as squashfuse's ll.c calls fs.c.
 *
 * Owns: name checks; the POSIX rules (ENOTDIR / EISDIR / EEXIST / ENOTEMPTY / EMLINK, rename
 * flags, BSD group semantics under a setgid directory, the links that "." and ".." add, which
 * times a change bumps); orphaning an inode at its last link; which xattr namespaces may be used.
 * Does not own: the node table (fs_node.h), file data (fs_file.h), the index's encoding
 * (index/idx.h), the kernel's caches and replies (fs_ops.c).
 * Threads: any thread. A namespace change takes fs->ns_lock, then the nodes it changes (write
 * locks, in ino order), then one index write transaction (fs_txn.h), so no reader ever sees a
 * half-made change.
 * Errors: 0, or a negative errno. A function that hands out a node (`out`) gives it with a
 * reference that the caller drops with fs_node_put. */
#ifndef BOAFS_FS_NS_H
#define BOAFS_FS_NS_H

#include <stddef.h>
#include <stdint.h>

#include "fs.h"
#include "idx.h"

/* Who asks: the credentials of the calling process. */
struct fs_ns_who {
	uint32_t uid, gid;
};

/* The node named `name` in directory `parent`. */
int fs_ns_lookup(struct fs *fs, uint64_t parent, const char *name, struct fs_node **out);

/* Make a new inode named `name` in `parent`, owned by `who` (or by the directory's group when it
 * is setgid). fs_ns_mknod makes a regular file, fifo, socket or device (anything else: -EINVAL);
 * fs_ns_mkdir masks `perm` with 07777. */
int fs_ns_mknod(struct fs *fs, const struct fs_ns_who *who, uint64_t parent, const char *name,
                uint32_t mode, uint64_t rdev, struct fs_node **out);
int fs_ns_mkdir(struct fs *fs, const struct fs_ns_who *who, uint64_t parent, const char *name,
                uint32_t perm, struct fs_node **out);
/* The target is the symlink's data, stored and checksummed like any file's. */
int fs_ns_symlink(struct fs *fs, const struct fs_ns_who *who, uint64_t parent, const char *name,
                  const char *target, struct fs_node **out);
/* Copies the target of symlink `ino` into `buf` (not terminated); -EINVAL if not a symlink. */
int fs_ns_readlink(struct fs *fs, uint64_t ino, char *buf, size_t size, size_t *len);

/* Another name for `ino` (not a directory: -EPERM) in `newparent`; *out is `ino`'s node. */
int fs_ns_link(struct fs *fs, uint64_t ino, uint64_t newparent, const char *newname,
               struct fs_node **out);
int fs_ns_unlink(struct fs *fs, uint64_t parent, const char *name);
int fs_ns_rmdir(struct fs *fs, uint64_t parent, const char *name);
/* rename(2) and renameat2(2): `flags` is 0, RENAME_NOREPLACE or RENAME_EXCHANGE. */
int fs_ns_rename(struct fs *fs, uint64_t parent, const char *name, uint64_t newparent,
                 const char *newname, unsigned int flags);

/* What a setattr changes: the FS_NS_SET_* bits of `set` name the fields that count. */
enum {
	FS_NS_SET_MODE = 1 << 0,
	FS_NS_SET_UID = 1 << 1,
	FS_NS_SET_GID = 1 << 2,
	FS_NS_SET_SIZE = 1 << 3,
	FS_NS_SET_ATIME = 1 << 4,
	FS_NS_SET_MTIME = 1 << 5,
	FS_NS_SET_ATIME_NOW = 1 << 6,
	FS_NS_SET_MTIME_NOW = 1 << 7,
	FS_NS_SET_CTIME = 1 << 8,
};
struct fs_ns_setattr {
	unsigned int set;
	uint32_t mode, uid, gid;
	uint64_t size;
	int64_t atime_ns, mtime_ns, ctime_ns;
};
/* Applies the change in one index transaction (truncating first when the size changes) and
 * gives the attributes that result in *out. ctime becomes now unless FS_NS_SET_CTIME. */
int fs_ns_setattr(struct fs *fs, uint64_t ino, const struct fs_ns_setattr *a,
                  struct idx_inode *out);

/* The node of `ino`, refused when it is a directory (-EISDIR): what open(2) may open. */
int fs_ns_open(struct fs *fs, uint64_t ino, struct fs_node **out);
/* Calls `cb` for ".", "..", then every entry of directory `ino` (-ENOTDIR if it is not one). */
int fs_ns_dir_each(struct fs *fs, uint64_t ino, idx_dirent_cb cb, void *arg);

/* access(2): 0, or -EACCES when `who` lacks a permission of `mask` (R_OK | W_OK | X_OK). */
int fs_ns_access(struct fs *fs, uint64_t ino, const struct fs_ns_who *who, int mask);

/* Extended attributes. Only user.*, trusted.* (uid 0) and security.* (changed by uid 0) exist;
 * set/remove bump ctime. `flags` is 0, XATTR_CREATE or XATTR_REPLACE. get and list with size 0
 * give only the length in *len; a value longer than `size` is -ERANGE. */
int fs_ns_xattr_set(struct fs *fs, const struct fs_ns_who *who, uint64_t ino, const char *name,
                    const void *value, size_t size, int flags);
int fs_ns_xattr_remove(struct fs *fs, const struct fs_ns_who *who, uint64_t ino, const char *name);
int fs_ns_xattr_get(struct fs *fs, const struct fs_ns_who *who, uint64_t ino, const char *name,
                    void *buf, size_t size, size_t *len);
int fs_ns_xattr_list(struct fs *fs, uint64_t ino, char *buf, size_t size, size_t *len);

#endif
