/* fs — the boafs daemon's context: the types every module of fs/ shares. It declares no
 * functions; each module has its own header (fs_archive.h opens and closes a struct fs, fs_node.h
 * keeps the node table, fs_file.h reads and writes data, ...), and this one includes none of them.
 *
 * Owns: struct fs (the daemon's only mutable state), struct fs_node (one per inode the kernel
 * knows or a request is using: attributes, dirty blocks, lookup and open counts), the options.
 * Does not own: the LMDB encoding (index/idx.h), record storage (index/seg.h), codecs (codec/).
 * Locking order, always: fs->ns_lock (namespace changes) -> node locks (in ino order) -> an
 * index write transaction -> fs->nodes_lock / cache lock (leaf locks, never held across I/O).
 * A flush takes its node's lock then a write transaction, never ns_lock.
 * Threads: see each field's comment for the lock that guards it.
 * Errors: every function of fs/ returns 0 or a negative errno. */
#ifndef BOAFS_FS_H
#define BOAFS_FS_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec.h"
#include "idx.h"
#include "seg.h"

struct fs_cache;
struct fs_models;
struct fs_recompress;
struct fs_heat;
struct fs_unwrap;

#define FS_CODECS CODEC_COUNT /* accounting keeps a row per codec id */
enum fs_cpu_op { FS_CPU_ENCODE, FS_CPU_DECODE, FS_CPU_OPS };

enum fs_recompress_mode { FS_RECOMPRESS_OFF, FS_RECOMPRESS_NOW, FS_RECOMPRESS_COLD };
/* -o relatime (the default), noatime, strictatime: when a read updates a file's atime. */
enum fs_atime { FS_ATIME_RELATIME, FS_ATIME_NOATIME, FS_ATIME_STRICT };

/* Blocks neither written nor read for this long are recompressed with BOA (-o recompress=cold:S):
 * 30 days. A physicist's working set is what an analysis rereads from week to week (ntuples
 * rerun for each meeting, a fit iterated until a deadline); what nobody opened for a month is
 * between campaigns or done, and will be read rarely and in bulk, where BOA's slower decoding
 * costs least. */
#define FS_COLD_SECONDS_DEFAULT (30ull * 24 * 3600)
/* Blocks untouched for this much longer (-o frozen=S): half a year, data kept for the record
 * after its analysis is published, are recoded once more at a level that mixes in the Mamba. */
#define FS_FROZEN_SECONDS_DEFAULT (182ull * 24 * 3600)
/* The two tiers' BOA levels (-o boa_level=, -o frozen_level=): cold blocks are coded fast and
 * without the Mamba (level 2: within 1 % of the first format's level 1 at twice its speed),
 * frozen ones with it, for the last percent (level 7: smaller than the first format's level 4);
 * examples/boa-frontier.md. */
#define FS_BOA_LEVEL_COLD_DEFAULT   2
#define FS_BOA_LEVEL_FROZEN_DEFAULT 7

/* The defaults of struct fs_options, written here only: boafs and the archive commands of boa
 * start from them. A new archive keeps its block size for good. */
#define FS_BLOCK_SIZE_DEFAULT ((uint32_t)128 << 10)
#define FS_ZSTD_LEVEL_DEFAULT 3
#define FS_CACHE_SIZE_DEFAULT ((uint64_t)256 << 20)

struct fs_options {
	uint32_t block_size;
	int zstd_level;
	uint64_t cache_size;
	unsigned threads; /* background recompression workers */
	int read_only;
	enum fs_recompress_mode recompress;
	uint64_t cold_seconds; /* FS_RECOMPRESS_COLD: blocks not written or read for this long */
	enum fs_atime atime;
	int boa_level;           /* cold tier */
	int frozen_level;        /* frozen tier; 0: no frozen tier */
	uint64_t frozen_seconds; /* not written or read for this long: recoded at frozen_level */
	const char *model_path;  /* -o model=: installed and made current at mount */
	const char *mountpoint;  /* recorded in ARCHIVE/lock while mounted */
	int unwrap;              /* enum fs_unwrap_mode (fs_unwrap.h): -o unwrap= */
	enum { FS_DAEMON, FS_ADMIN_READ, FS_ADMIN_WRITE } admin; /* who opens the archive */
};

/* A block held in memory until it is flushed; `data` is block_size bytes. */
struct fs_dirty {
	uint64_t block;
	uint8_t *data;
};

struct fs_node {
	uint64_t ino;
	/* Guarded by fs->nodes_lock: */
	uint64_t nlookup;
	uint32_t refs;
	struct fs_node *hash_next;
	/* Guarded by `lock`: */
	pthread_rwlock_t lock;
	struct idx_inode attr;
	int attr_dirty;
	uint32_t open_count;
	struct fs_dirty *dirty;
	size_t ndirty, dirty_cap;
	uint64_t next_sequential_block;
	/* The atime of a read not yet moved into `attr` (0: none). A read records it holding
	 * `lock` shared, atomically (other readers may record theirs at once), so that it never
	 * waits for read-ahead workers holding `lock` shared for a whole block decode; it moves
	 * into `attr` with `lock` held exclusively (fs_node_atime_fold, fs_node.h). */
	int64_t atime_read_ns;
	int damaged; /* block map inconsistent at load: data reads fail with EIO */
	/* Pushing decoded blocks into the kernel's page cache (fs_ops.c) races with anything that
	 * changes the file's data behind the kernel's back, so it happens only while no handle can
	 * write: `writers` counts handles open for writing, and a push holds `store_lock` for its
	 * whole length, as do opening for writing and changing the size (both wait for a push). */
	pthread_mutex_t store_lock;
	uint32_t writers; /* guarded by store_lock */
};

struct fs {
	char *archive;
	struct fs_options opt;
	struct idx *idx;
	struct seg_store *seg;
	struct fs_cache *cache;
	struct codec *codec; /* the codec registry: coders and their contexts */
	pthread_mutex_t ns_lock;
	/* Readers of records hold it shared from the extent lookup to the read; gc holds it
	 * exclusive to delete a segment file, so no reader is left with a vanished segment. */
	pthread_rwlock_t seg_remove_lock;
	pthread_mutex_t gc_lock; /* one compaction pass at a time (fs_gc) */
	int stopping;            /* atomic; set by fs_close: long background work ends early */
	int lock_fd;             /* flock on ARCHIVE/lock */
	pthread_mutex_t nodes_lock;
	struct fs_node **nodes;
	size_t nodes_cap, nodes_count;
	/* Flushes a dirty node that the node table releases (fs_file_flush_locked, set by fs_open;
	 * the caller holds the node's write lock). A pointer because fs_file.c calls fs_node.c:
	 * the node table must not call back up by name. */
	int (*node_flush)(struct fs *fs, struct fs_node *n);
	struct fs_prefetch *prefetch;
	/* Atomic. Stored blocks decoded by fs_block_read, and reads that waited for a decode of
	 * the same block already in progress instead of decoding it again (fs_block.c); logged
	 * when the read-ahead pool stops, for tests and tuning. */
	uint64_t blocks_decoded, decode_waits;
	void *fuse_session; /* struct fuse_session * of the mount (fs_ops_attach); NULL offline */
	/* fs_ops_attach's stopper thread and its pipe (fs_ops.c: stopping by signal). */
	pthread_t stopper, loop_thread;
	int stopper_made;
	int stop_pipe[2];
	/* Open file handles (fs_ops.c), freed at fs_ops_detach if the kernel never released them
	 * (stopped by a signal with files open). */
	pthread_mutex_t handles_lock;
	void *handles;
	size_t ncpu; /* encoders per flush */
	struct fs_models *models;
	struct fs_recompress *recompress;
	struct fs_heat *heat;                   /* when files were last read (fs_heat.h) */
	struct fs_unwrap *unwrap;               /* unwrapped files: canaries, regenerated pieces */
	uint64_t cpu_ns[FS_CODECS][FS_CPU_OPS]; /* atomics; see fs_account.c */
	uint64_t cpu_bytes[FS_CODECS][FS_CPU_OPS];
};

#endif
