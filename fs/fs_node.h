/* fs_node — the table of in-memory inodes (fs_node.c); struct fs_node itself is in fs.h.
 *
 * Owns: the hash table of nodes (fs->nodes), their lookup and reference counts, loading a node's
 * attributes from the index, freeing an unlinked inode once nothing refers to it.
 * Does not own: a node's data and dirty blocks (fs_file.h), namespace rules (fs_ops.c).
 * Threads: any thread; fs->nodes_lock guards the table and the counts, a node's own lock its
 * attributes. Dropping the last reference flushes a dirty node, taking its lock.
 * Errors: 0, or a negative errno (-ENOENT: no such inode). */
#ifndef BOAFS_FS_NODE_H
#define BOAFS_FS_NODE_H

#include <stdint.h>

#include "fs.h"
#include "idx.h"

/* Nodes. fs_node_get returns the node with refs + 1, loading its attributes when it is not in
 * memory (-ENOENT if the inode does not exist); fs_node_put drops that reference. */
int fs_node_get(struct fs *fs, uint64_t ino, struct fs_node **out);
void fs_node_put(struct fs *fs, struct fs_node *n);
/* The kernel learned of (lookup + 1) or forgot (lookup - n) the node. */
void fs_node_lookup_inc(struct fs *fs, struct fs_node *n);
void fs_node_forget(struct fs *fs, uint64_t ino, uint64_t nlookup);
/* Frees the inode of an unlinked node once nothing refers to it. Called with no lock held. */
int fs_node_reap(struct fs *fs, uint64_t ino);
/* Releases every node at unmount. */
void fs_nodes_drop_all(struct fs *fs);

/* atime. A read records its time with the node lock held shared (fs_node_atime_note) and
 * never waits for other readers; fs_node_atime is the atime to report (either lock mode), and
 * fs_node_atime_fold, with the lock held exclusively, moves a recorded time into n->attr and
 * marks it dirty: a flush (close, fsync, a node's release at unmount) and a setattr do it first,
 * so the time is stored with the file's attributes and an atime set after it wins. */
void fs_node_atime_note(struct fs_node *n, int64_t now);
int64_t fs_node_atime(const struct fs_node *n);
void fs_node_atime_fold(struct fs_node *n);

/* Writes the node's attributes in an open write transaction (caller holds the node lock). */
int fs_node_store_attr(struct idx_txn *t, struct fs_node *n);

#endif
