/* The stored blocks: extent, record, decode, checksum, with the cache in front. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "codec.h"
#include "fs.h"
#include "fs_account.h"
#include "fs_block.h"
#include "fs_cache.h"
#include "fs_log.h"
#include "fs_model.h"

int fs_payload_decode(struct fs *fs, uint64_t ino, uint64_t block, const struct extent *e,
                      const uint8_t *payload, uint8_t *raw)
{
	struct codec_args args = {.model = NULL};
	int64_t cpu = fs_thread_cpu_ns();
	int rc;

	if (e->model_id && codec_uses_model(e->codec)) {
		rc = fs_model_get(fs, e->model_id, &args.model);
		if (rc) {
			fs_log(
			    "inode %llu block %llu: model %08x needed to decode it is unavailable",
			    (unsigned long long)ino, (unsigned long long)block, e->model_id);
			return -EIO;
		}
	}
	rc = codec_decode(fs->codec, e->codec, &args, payload, e->stored_len, raw, e->raw_len);
	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		fs_log("inode %llu block %llu: %s record in segment %016llx offset %llu does not "
		       "decode",
		       (unsigned long long)ino, (unsigned long long)block, codec_name(e->codec),
		       (unsigned long long)e->segment, (unsigned long long)e->offset);
		return -EIO;
	}
	fs_account(fs, e->codec, FS_CPU_DECODE, fs_thread_cpu_ns() - cpu, e->raw_len);
	if (XXH64(raw, e->raw_len, 0) != e->raw_xxh64) {
		fs_log("inode %llu block %llu: checksum mismatch in segment %016llx offset %llu",
		       (unsigned long long)ino, (unsigned long long)block,
		       (unsigned long long)e->segment, (unsigned long long)e->offset);
		return -EIO;
	}
	memset(raw + e->raw_len, 0, fs->opt.block_size - e->raw_len);
	return 0;
}

/* Looks up, reads and decodes the block (no cache). */
static int block_decode(struct fs *fs, uint64_t ino, uint64_t block, uint8_t *buf)
{
	uint32_t bs = fs->opt.block_size;
	struct idx_txn *t = NULL;
	struct extent e;
	uint8_t *payload = NULL;
	int hole = 0, rc;

	pthread_rwlock_rdlock(&fs->seg_remove_lock);
	rc = idx_read_begin(fs->idx, &t);
	if (rc)
		goto out;
	rc = idx_extent_get(t, ino, block, &e);
	idx_read_end(t);
	if (rc == -ENOENT) {
		hole = 1;
		goto out;
	}
	if (rc)
		goto out;
	if (e.raw_len > bs || e.stored_len > codec_bound(bs)) {
		fs_log("inode %llu block %llu: extent lengths %u/%u out of range",
		       (unsigned long long)ino, (unsigned long long)block, e.stored_len, e.raw_len);
		rc = -EIO;
		goto out;
	}
	payload = malloc(e.stored_len ? e.stored_len : 1);
	if (!payload) {
		rc = -ENOMEM;
		goto out;
	}
	rc = seg_record_read(fs->seg, &e, payload, e.stored_len);
	if (rc) {
		fs_log("inode %llu block %llu: segment %016llx offset %llu unreadable: %s",
		       (unsigned long long)ino, (unsigned long long)block,
		       (unsigned long long)e.segment, (unsigned long long)e.offset, strerror(-rc));
		goto out;
	}
	rc = fs_payload_decode(fs, ino, block, &e, payload, buf);
	if (rc)
		goto out;
	__atomic_add_fetch(&fs->blocks_decoded, 1, __ATOMIC_RELAXED);
out:
	pthread_rwlock_unlock(&fs->seg_remove_lock);
	free(payload);
	return hole ? -ENOENT : rc;
}

int fs_block_read(struct fs *fs, uint64_t ino, uint64_t block, uint8_t *buf)
{
	struct fs_cache_claim claim;
	int waited, rc;

	/* One decode per block: a read of a block another thread is decoding (a read-ahead
	 * worker, or a concurrent read the kernel sent) waits for it and copies its result. If
	 * that decode failed, this read decodes the block itself below, without a claim, and so
	 * returns its own error (and logs it) rather than someone else's. */
	rc = fs_cache_claim(fs->cache, ino, block, buf, &claim, &waited);
	if (waited)
		__atomic_add_fetch(&fs->decode_waits, 1, __ATOMIC_RELAXED);
	if (rc == 0)
		return 0;
	if (rc != 1) /* -ENOENT: the decode waited for failed */
		return block_decode(fs, ino, block, buf);
	rc = block_decode(fs, ino, block, buf);
	fs_cache_release(fs->cache, &claim, rc ? NULL : buf);
	return rc;
}

void fs_block_idle(struct fs *fs)
{
	codec_boa_idle(fs->codec);
}
