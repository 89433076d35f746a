/* fs_txn — one index write transaction run to its end (fs_txn.c).
 *
 * Owns: begin, retry on -EAGAIN (map growth), commit or abort, and putting the attributes of the
 * nodes a caller holds back as they were when an attempt does not commit.
 * Does not own: what the transaction changes (the caller's body), the locks of the nodes.
 * Threads: any thread; LMDB serialises writers, so a body should be short.
 * Errors: 0, the body's negative errno, or the index's. */
#ifndef BOAFS_FS_TXN_H
#define BOAFS_FS_TXN_H

#include <stddef.h>

#include "fs.h"
#include "idx.h"

/* `body` makes the changes in `t` and returns 0 to commit
 * them, a negative errno to abort, or FS_TXN_NOTHING to abort because there is nothing to change
 * (fs_txn_run then returns 0). The whole transaction is run again, body included, while it fails
 * with -EAGAIN (idx grows the map meanwhile), a bounded number of times. The caller holds the
 * write locks of `nodes` (up to FS_TXN_NODES_MAX; NULL entries are skipped): body may change
 * their attributes, and they are put back as they were whenever an attempt does not commit. */
#define FS_TXN_NODES_MAX 4
#define FS_TXN_NOTHING   1
typedef int (*fs_txn_body)(struct idx_txn *t, void *arg);
int fs_txn_run(struct fs *fs, struct fs_node *const *nodes, size_t count, fs_txn_body body,
               void *arg);

#endif
