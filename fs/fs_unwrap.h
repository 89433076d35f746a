/* fs_unwrap — files stored as their unwrapped bytes (already-compressed ROOT and gzip files).
 *
 * An unwrapped file has no extents of its own logical blocks. Its unwrapped bytes (codec/unwrap.h:
 * the concatenation of its pieces' unwrapped bytes) are stored as a second block sequence of the
 * same inode, stream block k under block number FS_UNWRAP_STREAM_BLOCK0 + k, coded like any cold
 * block; its piece map (the serialized plan and the XXH64 of every logical block) is its value in
 * the index's `unwrap` database (index/FORMAT.md). A read regenerates the logical blocks from the
 * stream with each piece's recipe and proves every one against its recorded checksum.
 *
 * Owns: the piece map's value layout, the transform (scan, coder choice, encode, verify, one
 * committing transaction), regeneration on read with a small cache of regenerated pieces, the
 * revert to plain blocks before any change of the file's data, the library canaries checked at
 * open of the archive, fsck's regeneration of unwrapped files.
 * Does not own: scanning and recipes (codec/unwrap.h), the block cache (fs_cache.c), when files
 * are considered (fs_recompress.c asks fs_unwrap_candidates).
 * Threads: any thread may read; a transform runs on a recompression worker and takes the node's
 * write lock only to commit; the revert runs with the node's write lock held by the caller.
 * Errors: 0, or a negative errno; a block that does not regenerate to its checksum is -EIO and a
 * log line naming the inode, the piece and its recipe, never wrong data. */
#ifndef BOAFS_FS_UNWRAP_H
#define BOAFS_FS_UNWRAP_H

#include <stdint.h>

#include "fs.h"

struct boa_ctx;

/* Block number of stream block 0: far above any logical block of a file of at most 2^62 bytes
 * of 1-byte blocks, so the two sequences never meet and both sort after each other. */
#define FS_UNWRAP_STREAM_BLOCK0 (1ull << 62)

/* How the unwrapped bytes are coded (-o unwrap=). */
enum fs_unwrap_mode {
	FS_UNWRAP_AUTO = 0, /* by cost: BOA where it pays for its CPU, else zstd -19 */
	FS_UNWRAP_OFF,      /* files are never transformed (unwrapped ones are still read) */
	FS_UNWRAP_ZSTD,     /* always zstd -19 */
	FS_UNWRAP_BOA,      /* always BOA (each block: the smaller of BOA and zstd -19) */
};

/* Checks the library canaries recorded in the archive against this build (mount, fsck); a
 * library that drifted makes the files that need it unreadable, with one log line. */
int fs_unwrap_open(struct fs *fs);
void fs_unwrap_close(struct fs *fs);

/* Block `block` of `ino` when the file is unwrapped: 0 with buf filled (block_size bytes, zeros
 * past EOF), -ENOENT when the file is not unwrapped (the caller reads a hole), -EIO. Used by
 * fs_block_load when the block has no extent. */
int fs_unwrap_block_load(struct fs *fs, uint64_t ino, uint64_t block, uint8_t *buf);

/* 1 if the file is stored unwrapped, 0 if not, or a negative errno. */
int fs_unwrap_is_unwrapped(struct fs *fs, uint64_t ino);

/* -EIO (and a log line) if the file is unwrapped and needs a library that drifted (open). */
int fs_unwrap_check_open(struct fs *fs, uint64_t ino);

/* Turns an unwrapped file back into plain blocks in one transaction, before a write, truncate or
 * fallocate changes it (a no-op for a plain file). Caller holds the node's write lock. */
int fs_unwrap_revert_locked(struct fs *fs, struct fs_node *n);

/* Up to `max` inodes of cold regular files worth a transform attempt (not yet tried since their
 * last change), in *inos; *count set. */
int fs_unwrap_candidates(struct fs *fs, int64_t cold_ns, uint64_t *inos, size_t max, size_t *count);

/* Tries to transform one file: scans it, and when it has streams that re-create, codes its
 * unwrapped bytes, proves every logical block regenerates, and commits. A file not worth it is
 * marked so (until it changes). Gives up quietly (0) when *stopping becomes set or the file
 * changes meanwhile. `boa` is the caller's BOA context, whose cancel flag is `stopping` (NULL:
 * zstd -19 only). */
int fs_unwrap_transform(struct fs *fs, uint64_t ino, const int *stopping, struct boa_ctx *boa);

/* fsck: regenerates every block of every unwrapped file; reports each failing block through
 * `bad` (in order; block UINT64_MAX: the piece map does not load), counts in *files those that
 * regenerated whole, and returns 0 when the walk completed. */
typedef void (*fs_unwrap_bad_cb)(void *arg, uint64_t ino, uint64_t block, int err);
int fs_unwrap_verify_all(struct fs *fs, fs_unwrap_bad_cb bad, void *arg, uint64_t *files);

/* Totals over unwrapped files (boa stats). */
struct fs_unwrap_totals {
	uint64_t files;
	uint64_t logical_bytes;   /* their st_size */
	uint64_t unwrapped_bytes; /* their unwrapped bytes */
	uint64_t stored_bytes;    /* records of their stream blocks */
	uint64_t before_bytes;    /* records of their plain blocks when they were transformed */
	uint64_t cpu_ns;          /* CPU the transforms took (scan, coding, verify) */
};
int fs_unwrap_totals(struct fs *fs, struct fs_unwrap_totals *out);
/* The same totals over the given inodes only (boa stats PATH: a subtree); inodes that are not
 * unwrapped add nothing. */
int fs_unwrap_totals_of(struct fs *fs, const uint64_t *inos, size_t n,
                        struct fs_unwrap_totals *out);

#endif
