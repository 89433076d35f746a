/* The stored blocks: a block's extent, its record, decoding and checking it, and the cache of
 * decoded blocks in front of them (fs_block.c).
 *
 * Owns: reading a stored block through the cache (extent lookup, record read, decode with the
 * model the extent names, checksum), the log line that names the inode and block of a record
 * that does not decode or check.
 * Does not own: dirty data and holes' meaning (fs_file.h), unwrapped files (fs_unwrap.h),
 * records (index/seg.h), codecs (codec/codec.h).
 * Threads: any thread. A read holds fs->seg_remove_lock shared from the extent lookup to the
 * record read, so compaction never removes the segment under it. A block is decoded by one
 * thread at a time (a claim in the cache, fs_cache.h): a read of a block another thread is
 * decoding waits for it, taking no lock first, and copies its block; if that decode failed
 * it decodes the block itself and returns its own error. A caller may wait so while holding
 * locks the decoder takes only shared (an inode's lock, seg_remove_lock) or not at all, never
 * one the decoder takes exclusive.
 * Errors: 0, or a negative errno; a record that does not decode, or whose checksum fails, is -EIO
 * with a log line naming the inode and block. */
#ifndef BOAFS_FS_BLOCK_H
#define BOAFS_FS_BLOCK_H

#include <stdint.h>

#include "fs.h"
#include "idx.h"

/* Reads stored block `block` of `ino` into `buf` (block_size bytes) through the cache; -ENOENT
 * when no extent holds it (a hole, or a block of a file stored unwrapped: the caller decides). */
int fs_block_read(struct fs *fs, uint64_t ino, uint64_t block, uint8_t *buf);

/* After a reply, with nobody waiting on the calling thread: readies a BOA coder context for the
 * next block decode (its reset, megabytes of tables cleared, done now rather than at the start
 * of that decode, where a reader waits for it). Cheap when no context needs it. */
void fs_block_idle(struct fs *fs);

/* Decodes a record's payload into `raw` (block_size bytes, zero-filled past raw_len) and checks
 * it against the extent's checksum; logs and returns -EIO on any mismatch. */
int fs_payload_decode(struct fs *fs, uint64_t ino, uint64_t block, const struct extent *e,
                      const uint8_t *payload, uint8_t *raw);

#endif
