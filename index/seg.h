/* seg — the append-only segment files under ARCHIVE/seg/ that hold block records.
 *
 * Owns: the record format (a self-describing header, then the payload; index/FORMAT.md), the open
 * segment that records are appended to, rolling over to a new segment past SEG_ROLL_BYTES, the
 * file descriptors of segments being read, and fdatasync of appended data.
 * Does not own: which records are live (idx.h accounts that), encoding (codec/).
 * Threads: seg_append and seg_sync may be called from any thread (one mutex guards the tail);
 * seg_record_read is lock-free after the first open of a segment.
 * Ordering: callers seg_sync() after appending and before committing an index transaction that
 * points at the new records, so the index never points at data that is not on disk.
 * Errors: 0, or a negative errno; a record whose header does not match the extent, or whose
 * header checksum fails, is -EIO with a log line naming the segment and offset. */
#ifndef BOAFS_SEG_H
#define BOAFS_SEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idx.h"

#define SEG_HEADER_LEN 48
#define SEG_ROLL_BYTES (256ull << 20)

struct seg_store;

/* What the record says about itself; seg_append fills `out` from it. */
struct seg_record_info {
	uint8_t codec;
	uint32_t model_id;
	uint32_t raw_len;
	uint64_t raw_xxh64;
	uint64_t ino; /* back-references, for fsck and gc */
	uint64_t block;
};

/* Opens ARCHIVE/seg (`dir`), creating it when `create` is set. Appends go to a new segment whose
 * id is one past the highest present, so an earlier crash's partial tail is never appended to. */
int seg_open(const char *dir, int create, struct seg_store **out);
void seg_close(struct seg_store *s);

/* Appends one record with `payload` (stored_len bytes). On success *out describes where it is;
 * the caller still has to seg_sync before pointing the index at it, and seg_settle after. A failed
 * write (ENOSPC) leaves the segment as it was before the call. */
int seg_append(struct seg_store *s, const struct seg_record_info *info, const void *payload,
               uint32_t stored_len, struct extent *out);
/* Every successful seg_append leaves its record pending until the caller settles it, once the
 * index transaction that points at it has committed or given up (`e` as seg_append filled it;
 * an extent with record_len 0, never appended, is ignored). A segment with pending records is
 * busy: gc leaves it alone, since the index may not point at those records yet. */
void seg_settle(struct seg_store *s, const struct extent *e);
/* The open segment, or one with pending records. */
bool seg_busy(struct seg_store *s, uint64_t segment);
/* fdatasync of every segment appended to since the last call. */
int seg_sync(struct seg_store *s);

/* Reads the record at `e` and checks its header against `e`; copies the payload (e->stored_len
 * bytes) into `payload`, whose size is `cap`. */
int seg_record_read(struct seg_store *s, const struct extent *e, void *payload, size_t cap);

/* Walks the records of one segment file in order (fsck, gc); stops at the first record that
 * does not parse and returns -EIO, or 0 at a clean end. */
typedef int (*seg_record_cb)(void *arg, uint64_t offset, const struct seg_record_info *info,
                             const void *payload, uint32_t stored_len);
int seg_each_record(struct seg_store *s, uint64_t segment, seg_record_cb cb, void *arg);
/* Deletes a segment file that holds no live record (gc). */
int seg_remove(struct seg_store *s, uint64_t segment);
/* Ends the open segment: the next append starts a new one, and gc may compact this one. */
int seg_roll(struct seg_store *s);
/* The segment appends go to now (gc leaves it alone). */
uint64_t seg_tail(struct seg_store *s);
/* Size in bytes of a segment file; -ENOENT if there is none. */
int seg_size(struct seg_store *s, uint64_t segment, uint64_t *size);
/* The ids of every segment file present, unordered; the caller frees *ids. */
int seg_list(struct seg_store *s, uint64_t **ids, size_t *count);

#endif
