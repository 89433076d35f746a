/* CPU accounting: thread CPU time and bytes spent encoding and decoding, per codec, kept in
 * memory as atomic counters and stored in the index's meta database (`cpu_ns.<codec>.<op>`,
 * `bytes.<codec>.<op>`) with the transactions that already run, so `boa stats` can put the
 * compression CPU next to the disk space it saved. */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "codec.h"
#include "fs.h"
#include "fs_account.h"

static const char *const op_names[FS_CPU_OPS] = {"encode", "decode"};

int64_t fs_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void fs_account(struct fs *fs, uint8_t codec, enum fs_cpu_op op, int64_t cpu_ns, uint64_t bytes)
{
	if (codec >= FS_CODECS || cpu_ns < 0)
		return;
	__atomic_fetch_add(&fs->cpu_ns[codec][op], (uint64_t)cpu_ns, __ATOMIC_RELAXED);
	__atomic_fetch_add(&fs->cpu_bytes[codec][op], bytes, __ATOMIC_RELAXED);
}

static void key_name(char *buf, size_t cap, const char *what, int codec, int op)
{
	snprintf(buf, cap, "%s.%s.%s", what, codec_name((uint8_t)codec), op_names[op]);
}

int fs_account_load(struct fs *fs, struct idx_txn *t)
{
	char key[64];
	int rc;

	for (int c = 0; c < FS_CODECS; c++) {
		for (int op = 0; op < FS_CPU_OPS; op++) {
			key_name(key, sizeof(key), "cpu_ns", c, op);
			rc = idx_meta_get_u64(t, key, &fs->cpu_ns[c][op]);
			if (rc && rc != -ENOENT)
				return rc;
			key_name(key, sizeof(key), "bytes", c, op);
			rc = idx_meta_get_u64(t, key, &fs->cpu_bytes[c][op]);
			if (rc && rc != -ENOENT)
				return rc;
		}
	}
	return 0;
}

int fs_account_store(struct fs *fs, struct idx_txn *t)
{
	char key[64];
	int rc;

	for (int c = 0; c < FS_CODECS; c++) {
		for (int op = 0; op < FS_CPU_OPS; op++) {
			key_name(key, sizeof(key), "cpu_ns", c, op);
			rc = idx_meta_put_u64(
			    t, key, __atomic_load_n(&fs->cpu_ns[c][op], __ATOMIC_RELAXED));
			if (rc)
				return rc;
			key_name(key, sizeof(key), "bytes", c, op);
			rc = idx_meta_put_u64(
			    t, key, __atomic_load_n(&fs->cpu_bytes[c][op], __ATOMIC_RELAXED));
			if (rc)
				return rc;
		}
	}
	return 0;
}
