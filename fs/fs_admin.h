/* fs_admin — what the archive commands of `boa` (stats, models, fsck, gc) do, on an archive
 * directory, mounted or not (fs_admin.c). The programs print; this module walks and repairs.
 *
 * Owns: opening an archive for a command (readers work beside a mounted daemon, as LMDB
 * readers; writers refuse a mounted archive), the stats tally, the model list, the fsck walk and
 * its repair, a gc pass followed by an index sync.
 * Does not own: option parsing, tables, JSON, exit statuses (fs/prog/cmd_archive.c).
 * Threads: one thread per opened archive.
 * Errors: 0, or a negative errno. fsck's problems are findings, not errors: they are counted
 * and described one per line on the `report` stream. */
#ifndef BOAFS_FS_ADMIN_H
#define BOAFS_FS_ADMIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct fs;

#define FS_ADMIN_CODECS 3 /* codec ids 0..2: raw, zstd, boa */

/* Opens `archive` read-only (stats, models, fsck) or writable (gc, fsck --repair). */
int fs_admin_open(const char *archive, int writable, struct fs **out);
int fs_admin_close(struct fs *fs);
/* The archive's absolute path. */
const char *fs_admin_archive(const struct fs *fs);

struct fs_admin_codec {
	const char *name;
	uint64_t blocks, logical, stored;
	uint64_t pending;         /* blocks the pool has not tried to recompress yet */
	uint64_t pending_logical; /* their logical bytes */
	double cpu_encode_s, cpu_decode_s;
	double encode_bytes, decode_bytes; /* bytes those seconds coded */
};

struct fs_admin_stats {
	uint64_t files, dirs, file_bytes;
	struct fs_admin_codec codec[FS_ADMIN_CODECS];
	uint64_t recompress_before, recompress_after; /* stored bytes of recompressed blocks */
	/* Unwrapped files (fs_unwrap.h), whose stream blocks the codec tallies leave out. */
	struct {
		uint64_t files, logical, unwrapped, stored, stored_before;
		double cpu_s; /* their transforms */
	} unwrapped;
};

int fs_admin_stats(struct fs *fs, struct fs_admin_stats *st);
/* The block figures (codec[], and the archive-wide CPU seconds) and the unwrapped files'
 * figures of the given inodes only: a subtree, as `boa stats PATH` collects its inode numbers
 * from the mount. files, dirs and file_bytes are left to the caller. */
int fs_admin_stats_inodes(struct fs *fs, const uint64_t *inos, size_t n, struct fs_admin_stats *st);

/* Where the archive's disk space goes. */
struct fs_admin_space {
	uint64_t segments;      /* segment files */
	uint64_t segment_bytes; /* their sizes */
	uint64_t live_bytes;    /* records that extents point at */
	uint64_t dead_bytes;    /* superseded records, until compaction */
	uint64_t index_bytes;   /* index/data.mdb, allocated */
};

int fs_admin_space(struct fs *fs, struct fs_admin_space *sp);

struct fs_admin_model {
	uint32_t id;
	size_t bytes; /* 0 when missing */
	int loads;    /* 0: `error` says why it does not load */
	char error[160];
	int dim, layers;
	size_t params;
	uint64_t blocks; /* BOA blocks coded with it */
	int current;     /* new blocks use it */
	int missing;     /* blocks name it, but the archive does not hold it */
};

/* Calls fn for every stored model, then for every model that blocks name but that is missing. */
int fs_admin_models(struct fs *fs, int (*fn)(void *arg, const struct fs_admin_model *m), void *arg);

struct fs_admin_fsck {
	uint64_t problems, extents_checked, bytes_verified;
	uint64_t unwrapped_files; /* unwrapped files regenerated whole */
	/* problems that --repair leaves as they are: an unwrapped file that does not regenerate
	 * (a damaged stream record, piece map or library), which has no repair that invents
	 * nothing */
	uint64_t unrepaired;
	int index_damaged; /* a walk met a damaged LMDB page: what is under it was not checked */
	int walked;        /* the walk finished (or stopped at a damaged index page) */
	int repaired;      /* --repair ran and committed */
};

/* Verifies index <-> segments <-> checksums, describing each problem on `report`; with
 * `repair` (and an archive opened writable), drops what cannot be proven and fixes the counts.
 * A damaged index is never repaired: `repaired` stays 0; nor is an unwrapped file that does not
 * regenerate (counted in `unrepaired`). */
int fs_admin_fsck(struct fs *fs, int repair, FILE *report, struct fs_admin_fsck *res);

struct fs_admin_gc {
	uint64_t segments_removed, segments_failed, bytes_moved, bytes_freed;
};

/* Compacts every segment whose dead share is at least `dead_fraction`, then syncs the index. */
int fs_admin_gc(struct fs *fs, double dead_fraction, struct fs_admin_gc *res);

#endif
