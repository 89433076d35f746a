/* fs_account — CPU accounting (fs_account.c): thread CPU time and bytes spent encoding and
 * decoding, per codec, for `boa stats`.
 *
 * Owns: the counters fs->cpu_ns and fs->cpu_bytes and their keys in the index's meta database.
 * Does not own: the transactions it stores them in (the caller's).
 * Threads: any thread; the counters are atomics.
 * Errors: 0, or a negative errno from the index. */
#ifndef BOAFS_FS_ACCOUNT_H
#define BOAFS_FS_ACCOUNT_H

#include <stdint.h>

#include "fs.h"
#include "idx.h"

int64_t fs_thread_cpu_ns(void);
void fs_account(struct fs *fs, uint8_t codec, enum fs_cpu_op op, int64_t cpu_ns, uint64_t bytes);
int fs_account_load(struct fs *fs, struct idx_txn *t);
int fs_account_store(struct fs *fs, struct idx_txn *t);

#endif
