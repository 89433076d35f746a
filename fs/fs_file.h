/* fs_file — file data (fs_file.c): reads through dirty blocks and the block cache, writes into
 * dirty blocks, and the flush that turns dirty blocks into records and one index transaction.
 *
 * Owns: a node's dirty blocks and the file size they imply, encoding a flush (fast codec, raw when
 * it does not shrink), decoding a record (codec.h) and checking its checksum.
 * Does not own: the node table (fs_node.h), the cache's eviction (fs_cache.h), record storage
 * (index/seg.h), the codecs themselves (codec/).
 * Threads: any thread. Unless a name ends in _locked, callers hold no node lock and these take it;
 * _locked functions want the node's write lock held. Readers of records hold
 * fs->seg_remove_lock shared from the extent lookup to the read.
 * Errors: 0, or a negative errno; a record that does not decode or whose checksum fails is -EIO
 * with a log line naming the inode and block. */
#ifndef BOAFS_FS_FILE_H
#define BOAFS_FS_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "fs.h"
#include "idx.h"

/* The largest file size, as ext4's s_maxbytes: writes, truncates and fallocates past it fail
 * with EFBIG. 2^60 bytes (1 EiB) keeps every sum of an offset, a request length (< 2^32) and a
 * block size (<= 2^20) far below 2^63, so no offset computation can overflow off_t, and block
 * numbers (< 2^48 at 4 KiB blocks) far inside the index's 64-bit keys. */
#define FS_FILE_SIZE_MAX (1ull << 60)

/* Callers hold no node lock; these take it. */
int fs_file_read(struct fs *fs, struct fs_node *n, uint64_t off, size_t len, uint8_t *buf,
                 size_t *got);
int fs_file_write(struct fs *fs, struct fs_node *n, uint64_t off, const uint8_t *buf, size_t len);
int fs_file_flush(struct fs *fs, struct fs_node *n);
/* Sets the size (truncate up or down) and flushes, in one index transaction. Caller holds the
 * node's write lock. */
int fs_file_truncate_locked(struct fs *fs, struct fs_node *n, uint64_t size);
int fs_file_flush_locked(struct fs *fs, struct fs_node *n);
/* Drops dirty blocks that cannot be flushed and takes the file's size back to what the index
 * holds, so reads never return data that was not stored. */
int fs_file_revert_locked(struct fs *fs, struct fs_node *n);

/* The file was read (or opened for reading; reads the kernel's page cache serves never come
 * here): notes it for the cold policy (fs_heat.h) and updates the atime in memory as the mount's
 * atime option says. */
void fs_file_accessed(struct fs *fs, struct fs_node *n);
/* Bytes of the file's blocks waiting in memory (up to EOF), which st_blocks counts at their
 * logical size until they are stored. Caller holds the node lock. */
uint64_t fs_file_buffered_bytes(const struct fs *fs, const struct fs_node *n);
/* lseek SEEK_DATA / SEEK_HOLE from the block map: a block is data if it is stored or dirty;
 * -ENXIO at or past EOF, or when no data follows `off`. */
int fs_file_seek(struct fs *fs, struct fs_node *n, uint64_t off, int whence, uint64_t *out);
/* fallocate: mode 0 extends the size; FALLOC_FL_PUNCH_HOLE|KEEP_SIZE and FALLOC_FL_ZERO_RANGE
 * (with or without KEEP_SIZE) turn whole blocks into holes and zero the partial ones. The
 * caller checks the mode and that off + len is at most FS_FILE_SIZE_MAX. */
int fs_file_fallocate(struct fs *fs, struct fs_node *n, int mode, uint64_t off, uint64_t len);

/* Decodes `block` of `ino` into the cache unless it is dirty or cached already, or the inode is
 * gone (the prefetch workers' job, fs_prefetch.h). */
int fs_file_prefetch(struct fs *fs, uint64_t ino, uint64_t block);

/* Reads one block as stored, through the cache (no dirty data): a stored block (fs_block.h), else
 * a block of an unwrapped file (fs_unwrap.h), else a hole, which reads as zeros. */
int fs_block_load(struct fs *fs, uint64_t ino, uint64_t block, uint8_t *buf);

#endif
