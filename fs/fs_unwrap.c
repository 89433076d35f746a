/* Unwrapped files: transform, regeneration on read, revert on write, canaries (fs_unwrap.h).
 *
 * The `unwrap` value of an inode (index/FORMAT.md), little-endian:
 *   0  u32 magic "UWMP" | 4 u16 version (= 1) | 6 u8 state (0 = plain: tried, not worth it;
 *   1 = unwrapped) | 7 u8 coder (the codec chosen for the stream: 1 zstd -19, 2 BOA) |
 *   8 u32 block_size | 12 u32 reserved (0) | 16 i64 mtime_ns and 24 i64 ctime_ns of the inode
 *   when it was tried or transformed | 32 u64 plan_len | 40 u64 before_bytes (record bytes of
 *   the plain form) | 48 u64 cpu_ns (of the transform) | 56 u64 file_len | 64 u64 unwrapped_len |
 *   72: plan_len bytes of serialized plan (codec/unwrap_plan.c) | then one u64 XXH64 (seed 0)
 *   per logical block of the file (ceil(file_len / block_size), the last one of its bytes
 *   before EOF only). A plain mark is the 72-byte header alone.
 * meta `unwrap.canaries`: 16 bytes per library version in use: lib u8, 3 bytes zero,
 *   version u32, canary XXH64 u64 (what unwrap_canary gave when its first file was written). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <xxhash.h>

#include "boa.h"
#include "boa_model.h"
#include "byteorder.h"
#include "codec.h"
#include "fs.h"
#include "fs_account.h"
#include "fs_block.h"
#include "fs_cache.h"
#include "fs_heat.h"
#include "fs_log.h"
#include "fs_model.h"
#include "fs_node.h"
#include "fs_txn.h"
#include "fs_unwrap.h"
#include "unwrap.h"

#define MAP_MAGIC     0x504d5755u /* "UWMP" */
#define MAP_VERSION   1
#define MAP_HEAD      72
#define MAP_PLAIN     0
#define MAP_UNWRAPPED 1
#define CANARY_KEY    "unwrap.canaries"
#define CANARY_ENTRY  16
#define CANARIES_MAX  32
/* Whole files are held in memory while transformed: the file and its unwrapped bytes. */
#define FILE_MAX      (64ull << 20)
#define UNWRAPPED_MAX (1ull << 30)
/* Regenerated pieces kept, so that a piece spanning many blocks is compressed once. */
#define PIECE_SLOTS       16
#define PIECE_CACHE_BYTES (64ull << 20)
/* The coder choice (man boafs, UNWRAPPED FILES): BOA is used when the CPU it takes, per byte it
 * saves against the file stored as it is, costs less than that byte stored for ten years (HEP
 * data is kept for decades) at boa stats' default prices ($20/TB-month, $0.04/core-hour):
 * 1 MB for 10 years = $0.0024 = 216 core-seconds, i.e. 216000 ns per byte saved. Otherwise, or
 * when BOA would not store less than zstd -19, zstd -19. A file that unwraps 40-fold makes BOA
 * code 40 bytes per byte it can save, which it cannot pay for. Reads are not priced: the files
 * are cold. */
#define BOA_CPU_NS_PER_SAVED_BYTE 216000.0
/* Blocks of the unwrapped bytes that BOA and zstd -19 both code to estimate the choice. */
#define SAMPLE_BLOCKS 4
/* zstd's strongest practical level: the unwrapped bytes are written once and kept. */
#define ZSTD_STRONG_LEVEL 19

struct piece_slot {
	uint64_t ino;
	int64_t stamp; /* ctime of the transform: tells an old regeneration from a newer one */
	uint64_t off;
	uint8_t *bytes;
	uint64_t len;
	uint64_t used;
};

struct drift {
	uint8_t lib;
	uint32_t version;
};

struct fs_unwrap {
	pthread_mutex_t lock;
	struct piece_slot slots[PIECE_SLOTS];
	uint64_t slot_bytes, clock;
	struct drift drifted[CANARIES_MAX];
	size_t ndrifted;
};

struct map_head {
	uint8_t state, coder;
	uint32_t block_size;
	int64_t mtime_ns, ctime_ns;
	uint64_t plan_len, before_bytes, cpu_ns, file_len, unwrapped_len;
};

static void head_put(uint8_t *p, const struct map_head *h)
{
	memset(p, 0, MAP_HEAD);
	le32_put(p, MAP_MAGIC);
	le16_put(p + 4, MAP_VERSION);
	p[6] = h->state;
	p[7] = h->coder;
	le32_put(p + 8, h->block_size);
	le64_put(p + 16, (uint64_t)h->mtime_ns);
	le64_put(p + 24, (uint64_t)h->ctime_ns);
	le64_put(p + 32, h->plan_len);
	le64_put(p + 40, h->before_bytes);
	le64_put(p + 48, h->cpu_ns);
	le64_put(p + 56, h->file_len);
	le64_put(p + 64, h->unwrapped_len);
}

/* Parses and checks a value's header; -EIO (logged) for one that does not add up. */
static int head_get(uint64_t ino, const uint8_t *p, size_t len, uint32_t bs, struct map_head *h)
{
	uint64_t blocks;

	if (len < MAP_HEAD || le32_get(p) != MAP_MAGIC || le16_get(p + 4) != MAP_VERSION)
		goto bad;
	h->state = p[6];
	h->coder = p[7];
	h->block_size = le32_get(p + 8);
	h->mtime_ns = (int64_t)le64_get(p + 16);
	h->ctime_ns = (int64_t)le64_get(p + 24);
	h->plan_len = le64_get(p + 32);
	h->before_bytes = le64_get(p + 40);
	h->cpu_ns = le64_get(p + 48);
	h->file_len = le64_get(p + 56);
	h->unwrapped_len = le64_get(p + 64);
	if (h->state == MAP_PLAIN)
		return 0;
	if (h->state != MAP_UNWRAPPED || h->block_size != bs || h->plan_len > len - MAP_HEAD)
		goto bad;
	blocks = (h->file_len + bs - 1) / bs;
	if ((len - MAP_HEAD - h->plan_len) / 8 != blocks || (len - MAP_HEAD - h->plan_len) % 8)
		goto bad;
	return 0;
bad:
	fs_log("inode %llu: piece map damaged (%zu bytes)", (unsigned long long)ino, len);
	return -EIO;
}

/* ---- library drift ---- */

static int drifted(const struct fs *fs, uint8_t lib, uint32_t version)
{
	const struct fs_unwrap *u = fs->unwrap;

	for (size_t i = 0; u && i < u->ndrifted; i++)
		if (u->drifted[i].lib == lib && u->drifted[i].version == version)
			return 1;
	return 0;
}

/* 0, or -EIO with a log line when the plan needs a library version that drifted. */
static int plan_usable(struct fs *fs, uint64_t ino, const struct unwrap_plan *plan)
{
	for (uint8_t lib = 1; lib < UNWRAP_LIB_COUNT; lib++) {
		uint32_t v = plan->lib_version[lib];

		if (v && drifted(fs, lib, v)) {
			fs_log(
			    "inode %llu: refused: it needs %s %u.%u.%u as it behaved when the file "
			    "was written, and this build's %s does not re-create its output",
			    (unsigned long long)ino, unwrap_lib_name(lib), v >> 16, (v >> 8) & 0xff,
			    v & 0xff, unwrap_lib_name(lib));
			return -EIO;
		}
	}
	return 0;
}

int fs_unwrap_open(struct fs *fs)
{
	uint8_t list[CANARIES_MAX * CANARY_ENTRY];
	const char *fake = getenv("BOAFS_TEST_UNWRAP_DRIFT");
	struct idx_txn *t = NULL;
	struct fs_unwrap *u;
	size_t len = sizeof(list);
	int rc;

	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	pthread_mutex_init(&u->lock, NULL);
	fs->unwrap = u;
	rc = idx_read_begin(fs->idx, &t);
	if (rc)
		return rc;
	rc = idx_meta_get(t, CANARY_KEY, list, &len);
	idx_read_end(t);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	for (size_t i = 0; i + CANARY_ENTRY <= len; i += CANARY_ENTRY) {
		uint8_t lib = list[i];
		uint32_t version = le32_get(list + i + 4);
		uint64_t hash = le64_get(list + i + 8);
		char msg[256] = "";

		/* The test hook stands in for a library that changed its output under the same
		 * version: the canary it computes no longer matches. */
		if (fake && !strcmp(fake, unwrap_lib_name(lib)))
			hash ^= 1;
		if (unwrap_canary_compare(lib, version, hash, msg, sizeof(msg)) == 0)
			continue;
		fs_log("unwrapped files that need %s %u.%u.%u are refused (EIO): %s; plain files "
		       "are not affected",
		       unwrap_lib_name(lib), version >> 16, (version >> 8) & 0xff, version & 0xff,
		       msg[0] ? msg : "its canary does not re-create");
		u->drifted[u->ndrifted++] = (struct drift){lib, version};
	}
	return 0;
}

void fs_unwrap_close(struct fs *fs)
{
	struct fs_unwrap *u = fs->unwrap;

	if (!u)
		return;
	for (size_t i = 0; i < PIECE_SLOTS; i++)
		free(u->slots[i].bytes);
	pthread_mutex_destroy(&u->lock);
	free(u);
	fs->unwrap = NULL;
}

/* ---- the piece map ---- */

struct map {
	struct map_head head;
	struct unwrap_plan *plan;
	uint64_t block_xxh64; /* of the block asked for */
};

/* Loads the map of `ino` (and the checksum of `block`, when it has one): -ENOENT when the file
 * is not unwrapped. */
static int map_load(struct fs *fs, uint64_t ino, uint64_t block, struct map *m)
{
	struct idx_txn *t = NULL;
	const uint8_t *v;
	size_t len;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = idx_read_begin(fs->idx, &t);
	if (rc)
		return rc;
	rc = idx_unwrap_get(t, ino, (const void **)&v, &len);
	if (rc)
		goto out;
	rc = head_get(ino, v, len, fs->opt.block_size, &m->head);
	if (rc)
		goto out;
	if (m->head.state != MAP_UNWRAPPED) {
		rc = -ENOENT;
		goto out;
	}
	if (block < (m->head.file_len + fs->opt.block_size - 1) / fs->opt.block_size)
		m->block_xxh64 = le64_get(v + MAP_HEAD + m->head.plan_len + 8 * block);
	rc = unwrap_plan_decode(v + MAP_HEAD, m->head.plan_len, &m->plan);
	if (rc == -EPROTO) {
		/* A plan of a newer build (e.g. filtered pieces): refused, never guessed at. */
		fs_log("inode %llu: its piece map is of a newer format than this build reads; "
		       "refused (EIO)",
		       (unsigned long long)ino);
		rc = -EIO;
	} else if (rc) {
		fs_log("inode %llu: piece map does not parse: %s", (unsigned long long)ino,
		       strerror(-rc));
		rc = -EIO;
		goto out;
	}
	if (m->plan->file_len != m->head.file_len ||
	    m->plan->unwrapped_len != m->head.unwrapped_len) {
		fs_log("inode %llu: piece map and its plan disagree", (unsigned long long)ino);
		rc = -EIO;
	}
out:
	idx_read_end(t);
	if (rc) {
		unwrap_plan_free(m->plan);
		m->plan = NULL;
	}
	return rc;
}

int fs_unwrap_is_unwrapped(struct fs *fs, uint64_t ino)
{
	struct idx_txn *t = NULL;
	const uint8_t *v;
	size_t len;
	int rc;

	rc = idx_read_begin(fs->idx, &t);
	if (rc)
		return rc;
	rc = idx_unwrap_get(t, ino, (const void **)&v, &len);
	if (!rc)
		rc = len >= MAP_HEAD && v[6] == MAP_UNWRAPPED;
	idx_read_end(t);
	return rc == -ENOENT ? 0 : rc;
}

int fs_unwrap_check_open(struct fs *fs, uint64_t ino)
{
	struct map m;
	int rc;

	if (!fs->unwrap || !fs->unwrap->ndrifted)
		return 0;
	rc = map_load(fs, ino, 0, &m);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	rc = plan_usable(fs, ino, m.plan);
	unwrap_plan_free(m.plan);
	return rc;
}

/* ---- regeneration ---- */

/* A block as stored (fs_block.h), a hole reading as zeros: the stream blocks of an unwrapped
 * file, and the blocks of a plain file about to be unwrapped, are never themselves unwrapped. */
static int stored_block_load(struct fs *fs, uint64_t ino, uint64_t block, uint8_t *buf)
{
	int rc = fs_block_read(fs, ino, block, buf);

	if (rc == -ENOENT) {
		memset(buf, 0, fs->opt.block_size);
		rc = 0;
	}
	return rc;
}

/* Reads [off, off + len) of the file's unwrapped bytes from its stream blocks. */
static int stream_read(struct fs *fs, uint64_t ino, uint64_t off, uint64_t len, uint8_t *out,
                       uint8_t *scratch)
{
	uint32_t bs = fs->opt.block_size;

	while (len) {
		uint64_t k = off / bs, in = off % bs, chunk = bs - in;
		int rc;

		if (chunk > len)
			chunk = len;
		rc = stored_block_load(fs, ino, FS_UNWRAP_STREAM_BLOCK0 + k, scratch);
		if (rc)
			return rc;
		memcpy(out, scratch + in, chunk);
		out += chunk;
		off += chunk;
		len -= chunk;
	}
	return 0;
}

static struct piece_slot *slot_find(struct fs_unwrap *u, uint64_t ino, int64_t stamp, uint64_t off)
{
	for (size_t i = 0; i < PIECE_SLOTS; i++)
		if (u->slots[i].bytes && u->slots[i].ino == ino && u->slots[i].stamp == stamp &&
		    u->slots[i].off == off)
			return &u->slots[i];
	return NULL;
}

/* Keeps `bytes` (taking ownership) unless it is larger than the cache; evicts the least used. */
static void slot_put(struct fs_unwrap *u, uint64_t ino, int64_t stamp, uint64_t off, uint8_t *bytes,
                     uint64_t len)
{
	struct piece_slot *s;

	if (len > PIECE_CACHE_BYTES / 2 || slot_find(u, ino, stamp, off)) {
		free(bytes);
		return;
	}
	for (;;) {
		struct piece_slot *lru = NULL, *empty = NULL;

		for (size_t i = 0; i < PIECE_SLOTS; i++) {
			if (!u->slots[i].bytes)
				empty = &u->slots[i];
			else if (!lru || u->slots[i].used < lru->used)
				lru = &u->slots[i];
		}
		if (empty && u->slot_bytes + len <= PIECE_CACHE_BYTES) {
			s = empty;
			break;
		}
		u->slot_bytes -= lru->len;
		free(lru->bytes);
		lru->bytes = NULL;
	}
	*s = (struct piece_slot){ino, stamp, off, bytes, len, ++u->clock};
	u->slot_bytes += len;
}

static void slots_drop(struct fs_unwrap *u, uint64_t ino)
{
	pthread_mutex_lock(&u->lock);
	for (size_t i = 0; i < PIECE_SLOTS; i++)
		if (u->slots[i].bytes && u->slots[i].ino == ino) {
			u->slot_bytes -= u->slots[i].len;
			free(u->slots[i].bytes);
			u->slots[i].bytes = NULL;
		}
	pthread_mutex_unlock(&u->lock);
}

static void log_piece(uint64_t ino, long i, const struct unwrap_piece *p, const char *what)
{
	char recipe[128];

	unwrap_recipe_str(&p->recipe, recipe, sizeof(recipe));
	fs_log("inode %llu piece %ld (%s, bytes %" PRIu64 "..%" PRIu64 "): %s; recipe %s",
	       (unsigned long long)ino, i, unwrap_kind_name(p->kind), p->off, p->off + p->len, what,
	       recipe);
}

/* Copies [from, from + len) of piece i's logical bytes into dst, regenerating the piece unless
 * it is in the piece cache. */
static int piece_copy(struct fs *fs, uint64_t ino, const struct map *m, long i, uint64_t from,
                      uint64_t len, uint8_t *dst, uint8_t *scratch)
{
	const struct unwrap_piece *p = &m->plan->pieces[i];
	struct fs_unwrap *u = fs->unwrap;
	struct piece_slot *s;
	uint8_t *unwrapped = NULL, *logical = NULL;
	int rc;

	if (p->kind == UNWRAP_VERBATIM)
		return stream_read(fs, ino, p->unwrapped_off + from, len, dst, scratch);
	if (drifted(fs, p->recipe.lib, p->recipe.lib_version)) {
		log_piece(ino, i, p, "its library drifted; refused");
		return -EIO;
	}
	pthread_mutex_lock(&u->lock);
	s = slot_find(u, ino, m->head.ctime_ns, p->off);
	if (s) {
		s->used = ++u->clock;
		memcpy(dst, s->bytes + from, len);
	}
	pthread_mutex_unlock(&u->lock);
	if (s)
		return 0;
	unwrapped = malloc(p->unwrapped_len ? p->unwrapped_len : 1);
	logical = malloc(p->len);
	if (!unwrapped || !logical) {
		rc = -ENOMEM;
		goto out;
	}
	rc = stream_read(fs, ino, p->unwrapped_off, p->unwrapped_len, unwrapped, scratch);
	if (rc)
		goto out;
	rc = unwrap_regenerate(p, unwrapped, logical);
	if (rc == -ENOMEM)
		goto out;
	if (rc) {
		log_piece(ino, i, p, "does not regenerate to its checksum");
		rc = -EIO;
		goto out;
	}
	memcpy(dst, logical + from, len);
	pthread_mutex_lock(&u->lock);
	slot_put(u, ino, m->head.ctime_ns, p->off, logical, p->len);
	pthread_mutex_unlock(&u->lock);
	logical = NULL;
out:
	free(unwrapped);
	free(logical);
	return rc;
}

/* Regenerates logical block `block` into buf with the map loaded; checks its checksum. */
static int block_regenerate(struct fs *fs, uint64_t ino, uint64_t block, const struct map *m,
                            uint8_t *buf, uint8_t *scratch)
{
	uint32_t bs = fs->opt.block_size;
	uint64_t lo = block * bs, hi = lo + bs;
	long i;
	int rc;

	memset(buf, 0, bs);
	if (lo >= m->head.file_len)
		return 0;
	if (hi > m->head.file_len)
		hi = m->head.file_len;
	i = unwrap_plan_find(m->plan, lo);
	if (i < 0)
		return -EIO;
	for (; i < (long)m->plan->n_pieces && m->plan->pieces[i].off < hi; i++) {
		const struct unwrap_piece *p = &m->plan->pieces[i];
		uint64_t a = p->off > lo ? p->off : lo;
		uint64_t b = p->off + p->len < hi ? p->off + p->len : hi;

		rc = piece_copy(fs, ino, m, i, a - p->off, b - a, buf + (a - lo), scratch);
		if (rc)
			return rc;
	}
	if (XXH64(buf, hi - lo, 0) != m->block_xxh64) {
		char recipe[128] = "none";

		i = unwrap_plan_find(m->plan, lo);
		for (; i < (long)m->plan->n_pieces && m->plan->pieces[i].off < hi; i++)
			if (m->plan->pieces[i].kind != UNWRAP_VERBATIM)
				unwrap_recipe_str(&m->plan->pieces[i].recipe, recipe,
				                  sizeof(recipe));
		fs_log("inode %llu block %llu: regenerated bytes do not match their checksum "
		       "(pieces from %ld, recipe %s)",
		       (unsigned long long)ino, (unsigned long long)block,
		       unwrap_plan_find(m->plan, lo), recipe);
		return -EIO;
	}
	return 0;
}

int fs_unwrap_block_load(struct fs *fs, uint64_t ino, uint64_t block, uint8_t *buf)
{
	uint8_t *scratch = NULL;
	struct map m;
	int rc;

	if (block >= FS_UNWRAP_STREAM_BLOCK0)
		return -ENOENT; /* a hole of the stream itself */
	rc = map_load(fs, ino, block, &m);
	if (rc)
		return rc;
	rc = plan_usable(fs, ino, m.plan);
	if (rc)
		goto out;
	scratch = malloc(fs->opt.block_size);
	if (!scratch) {
		rc = -ENOMEM;
		goto out;
	}
	rc = block_regenerate(fs, ino, block, &m, buf, scratch);
	if (!rc)
		fs_cache_put(fs->cache, ino, block, buf);
out:
	free(scratch);
	unwrap_plan_free(m.plan);
	return rc;
}

/* ---- revert ---- */

static int all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

/* The end of every transaction that swaps a file's form (transform, revert): its stored size
 * moves by `delta` (what the extent changes freed and added), and the node and the archive's
 * accounting are written in the same transaction. */
static int commit_tail(struct fs *fs, struct idx_txn *t, struct fs_node *n, int64_t delta)
{
	int rc;

	n->attr.stored_bytes = (uint64_t)((int64_t)n->attr.stored_bytes + delta);
	rc = fs_node_store_attr(t, n);
	if (!rc)
		rc = fs_account_store(fs, t);
	return rc;
}

struct revert_op {
	struct fs *fs;
	struct fs_node *n;
	uint64_t nblocks;
	const struct extent *extents; /* record_len 0: a hole */
};

static int revert_body(struct idx_txn *t, void *arg)
{
	struct revert_op *op = arg;
	struct fs_node *n = op->n;
	int64_t delta = 0, d;
	int rc;

	rc = idx_extent_del_from(t, n->ino, FS_UNWRAP_STREAM_BLOCK0, &delta);
	if (rc == -ENOENT)
		rc = 0;
	for (uint64_t b = 0; b < op->nblocks && !rc; b++) {
		if (!op->extents[b].record_len)
			continue;
		d = 0;
		rc = idx_extent_put(t, n->ino, b, &op->extents[b], &d);
		delta += d;
	}
	if (!rc)
		rc = idx_unwrap_del(t, n->ino);
	if (!rc)
		rc = commit_tail(op->fs, t, n, delta);
	return rc;
}

int fs_unwrap_revert_locked(struct fs *fs, struct fs_node *n)
{
	uint32_t bs = fs->opt.block_size;
	struct extent *extents = NULL;
	uint8_t *raw = NULL, *payload = NULL;
	struct revert_op op;
	uint64_t nblocks = 0;
	int rc;

	rc = fs_unwrap_is_unwrapped(fs, n->ino);
	if (rc <= 0)
		return rc;
	nblocks = (n->attr.size + bs - 1) / bs;
	extents = calloc(nblocks ? nblocks : 1, sizeof(*extents));
	raw = malloc(bs);
	payload = malloc(codec_bound(bs));
	if (!extents || !raw || !payload) {
		rc = -ENOMEM;
		goto out;
	}
	/* Every block is regenerated and proven before the plain form is written: a file that
	 * cannot be regenerated stays as it is, and the write fails with EIO. */
	for (uint64_t b = 0; b < nblocks; b++) {
		struct seg_record_info info = {0};
		size_t raw_len = n->attr.size - b * bs < bs ? n->attr.size - b * bs : bs;
		size_t stored_len;
		int64_t cpu;

		rc = fs_cache_get(fs->cache, n->ino, b, raw) == 0
		         ? 0
		         : fs_unwrap_block_load(fs, n->ino, b, raw);
		if (rc == -ENOENT) /* reverted meanwhile: cannot be, the caller holds the lock */
			rc = -EIO;
		if (rc)
			goto out;
		if (all_zero(raw, raw_len))
			continue;
		cpu = fs_thread_cpu_ns();
		rc = codec_encode_fast(fs->codec, raw, raw_len, payload, &stored_len, &info.codec);
		if (rc)
			goto out;
		fs_account(fs, CODEC_ZSTD, FS_CPU_ENCODE, fs_thread_cpu_ns() - cpu, raw_len);
		info.raw_len = (uint32_t)raw_len;
		info.raw_xxh64 = XXH64(raw, raw_len, 0);
		info.ino = n->ino;
		info.block = b;
		rc = seg_append(fs->seg, &info, payload, (uint32_t)stored_len, &extents[b]);
		if (rc)
			goto out;
	}
	rc = seg_sync(fs->seg);
	if (rc)
		goto out;
	op = (struct revert_op){fs, n, nblocks, extents};
	rc = fs_txn_run(fs, &n, 1, revert_body, &op);
	if (rc)
		goto out;
	slots_drop(fs->unwrap, n->ino);
	fs_cache_invalidate(fs->cache, n->ino, FS_UNWRAP_STREAM_BLOCK0);
out:
	if (rc)
		fs_log("inode %llu: cannot turn the unwrapped file back into plain blocks: %s",
		       (unsigned long long)n->ino, strerror(-rc));
	for (uint64_t b = 0; extents && b < nblocks; b++)
		seg_settle(fs->seg, &extents[b]); /* committed or given up */
	free(extents);
	free(raw);
	free(payload);
	return rc;
}

/* ---- candidates ---- */

struct cand_walk {
	struct fs *fs;
	struct idx_txn *t;
	int64_t now, cold_ns;
	uint64_t *inos;
	size_t max, count;
};

static int cand_step(void *arg, const struct idx_inode *in)
{
	struct cand_walk *w = arg;
	const uint8_t *v;
	size_t len;
	int rc;

	if (w->count == w->max)
		return 1;
	int64_t touched = in->mtime_ns, read = fs_heat_last_read(w->fs->heat, in->ino);

	/* Cold as for blocks: neither written nor read for the cold period. */
	if (read > touched)
		touched = read;
	if (in->atime_ns > touched)
		touched = in->atime_ns;
	if (!S_ISREG(in->mode) || in->nlink == 0 || in->size < 64 || in->size > FILE_MAX ||
	    w->now - touched < w->cold_ns)
		return 0;
	rc = idx_unwrap_get(w->t, in->ino, (const void **)&v, &len);
	if (rc == -ENOENT) {
		w->inos[w->count++] = in->ino;
		return 0;
	}
	if (rc)
		return rc;
	/* Tried before: again only once the file changed. */
	if (len >= MAP_HEAD && v[6] == MAP_PLAIN &&
	    ((int64_t)le64_get(v + 16) != in->mtime_ns ||
	     (int64_t)le64_get(v + 24) != in->ctime_ns))
		w->inos[w->count++] = in->ino;
	return 0;
}

int fs_unwrap_candidates(struct fs *fs, int64_t cold_ns, uint64_t *inos, size_t max, size_t *count)
{
	struct cand_walk w = {fs, NULL, fs_now_ns(), cold_ns, inos, max, 0};
	int rc;

	*count = 0;
	if (fs->opt.unwrap == FS_UNWRAP_OFF)
		return 0;
	rc = idx_read_begin(fs->idx, &w.t);
	if (rc)
		return rc;
	rc = idx_inode_each(w.t, cand_step, &w);
	idx_read_end(w.t);
	*count = w.count;
	return rc < 0 ? rc : 0;
}

/* ---- transform ---- */

struct mark_op {
	uint64_t ino;
	const uint8_t *value;
	size_t len;
};

static int mark_body(struct idx_txn *t, void *arg)
{
	struct mark_op *op = arg;
	const uint8_t *v;
	size_t len;
	int rc = idx_unwrap_get(t, op->ino, (const void **)&v, &len);

	if (!rc && len >= MAP_HEAD && v[6] == MAP_UNWRAPPED)
		return FS_TXN_NOTHING; /* unwrapped since: keep that */
	if (rc && rc != -ENOENT)
		return rc;
	return idx_unwrap_put(t, op->ino, op->value, op->len);
}

/* Remembers that the file, as of these times, is not worth transforming. */
static int mark_plain(struct fs *fs, uint64_t ino, int64_t mtime_ns, int64_t ctime_ns)
{
	uint8_t v[MAP_HEAD];
	struct map_head h = {.state = MAP_PLAIN,
	                     .block_size = fs->opt.block_size,
	                     .mtime_ns = mtime_ns,
	                     .ctime_ns = ctime_ns};
	struct mark_op op = {ino, v, sizeof(v)};

	head_put(v, &h);
	return fs_txn_run(fs, NULL, 0, mark_body, &op);
}

struct commit_op {
	struct fs *fs;
	struct fs_node *n;
	const struct extent *extents; /* per stream block; record_len 0: a hole */
	uint64_t nstream;
	const uint8_t *value;
	size_t len;
	const struct unwrap_plan *plan;
};

/* Adds this plan's library versions to meta unwrap.canaries. */
static int canaries_add(struct idx_txn *t, const struct unwrap_plan *plan)
{
	uint8_t list[CANARIES_MAX * CANARY_ENTRY];
	size_t len = sizeof(list);
	int rc = idx_meta_get(t, CANARY_KEY, list, &len), changed = 0;

	if (rc == -ENOENT)
		len = 0;
	else if (rc)
		return rc;
	for (uint8_t lib = 1; lib < UNWRAP_LIB_COUNT; lib++) {
		int found = 0;

		if (!plan->lib_version[lib])
			continue;
		for (size_t i = 0; i + CANARY_ENTRY <= len; i += CANARY_ENTRY)
			if (list[i] == lib && le32_get(list + i + 4) == plan->lib_version[lib])
				found = 1;
		if (found)
			continue;
		if (len + CANARY_ENTRY > sizeof(list))
			return -ENOSPC;
		memset(list + len, 0, CANARY_ENTRY);
		list[len] = lib;
		le32_put(list + len + 4, plan->lib_version[lib]);
		le64_put(list + len + 8, plan->canary[lib]);
		len += CANARY_ENTRY;
		changed = 1;
	}
	return changed ? idx_meta_put(t, CANARY_KEY, list, len) : 0;
}

static int commit_body(struct idx_txn *t, void *arg)
{
	struct commit_op *op = arg;
	struct fs_node *n = op->n;
	int64_t delta = 0, d = 0;
	const uint8_t *v;
	size_t len;
	int rc;

	rc = idx_unwrap_get(t, n->ino, (const void **)&v, &len);
	if (!rc && len >= MAP_HEAD && v[6] == MAP_UNWRAPPED)
		return FS_TXN_NOTHING; /* another worker got there first */
	if (rc && rc != -ENOENT)
		return rc;
	rc = idx_extent_del_from(t, n->ino, 0, &d);
	if (rc == -ENOENT)
		rc = 0;
	delta += d;
	for (uint64_t k = 0; k < op->nstream && !rc; k++) {
		if (!op->extents[k].record_len)
			continue;
		d = 0;
		rc = idx_extent_put(t, n->ino, FS_UNWRAP_STREAM_BLOCK0 + k, &op->extents[k], &d);
		delta += d;
	}
	if (!rc)
		rc = idx_unwrap_put(t, n->ino, op->value, op->len);
	if (!rc)
		rc = idx_format_raise(t, 2);
	if (!rc)
		rc = canaries_add(t, op->plan);
	if (!rc)
		rc = commit_tail(op->fs, t, n, delta);
	return rc;
}

struct coded {
	uint8_t *payload; /* per stream block, in one buffer of nstream * bound bytes */
	struct extent *extents;
};

/* zstd -19, or raw when that does not save 1/8 (the rule codec_encode_fast keeps). */
static int encode_strong(struct fs *fs, const uint8_t *raw, size_t len, uint8_t *out,
                         size_t *out_len, uint8_t *codec)
{
	struct codec_args args = {.level = ZSTD_STRONG_LEVEL};
	int rc =
	    codec_encode(fs->codec, CODEC_ZSTD, &args, raw, len, out, codec_bound(len), out_len);

	if (rc == -ENOMEM)
		return rc;
	if (rc || *out_len > len - len / 8) {
		memcpy(out, raw, len);
		*out_len = len;
		*codec = CODEC_RAW;
		return 0;
	}
	*codec = CODEC_ZSTD;
	return 0;
}

/* Estimates, from a few blocks of the unwrapped bytes, whether BOA pays for its CPU on this file
 * (see BOA_CPU_NS_PER_SAVED_BYTE). Returns 1 for BOA, 0 for zstd -19. */
static int choose_boa(struct fs *fs, const uint8_t *stream, uint64_t len, uint64_t before,
                      const struct codec_args *boa)
{
	uint32_t bs = fs->opt.block_size;
	uint64_t nblocks = (len + bs - 1) / bs, raw = 0, z = 0, b = 0;
	int64_t cpu_z = 0, cpu_b = 0;
	uint8_t *out = malloc(boa_bound(bs) > codec_bound(bs) ? boa_bound(bs) : codec_bound(bs));
	double est_z, est_b, cpu;

	if (!out) {
		free(out);
		return 0;
	}
	for (uint64_t s = 0; s < SAMPLE_BLOCKS && s < nblocks; s++) {
		uint64_t k = nblocks * (2 * s + 1) / (2 * SAMPLE_BLOCKS);
		uint64_t n = len - k * bs < bs ? len - k * bs : bs;
		size_t got = 0;
		uint8_t c;
		int rc;
		int64_t t0 = fs_thread_cpu_ns();

		if (encode_strong(fs, stream + k * bs, n, out, &got, &c))
			break;
		cpu_z += fs_thread_cpu_ns() - t0;
		z += got;
		t0 = fs_thread_cpu_ns();
		rc = codec_encode(fs->codec, CODEC_BOA, boa, stream + k * bs, n, out, boa_bound(bs),
		                  &got);
		cpu_b += fs_thread_cpu_ns() - t0;
		if (rc == -ECANCELED)
			break;
		if (rc)
			got = n;
		b += got < n ? got : n;
		raw += n;
	}
	free(out);
	fs_account(fs, CODEC_ZSTD, FS_CPU_ENCODE, cpu_z, raw);
	fs_account(fs, CODEC_BOA, FS_CPU_ENCODE, cpu_b, raw);
	if (!raw)
		return 0;
	/* Scaled to the whole unwrapped stream: what each would store, and BOA's CPU. */
	est_z = (double)z / raw * len;
	est_b = (double)b / raw * len;
	cpu = (double)cpu_b / raw * len;
	if (est_b >= est_z || est_b >= (double)before)
		return 0;
	return cpu <= ((double)before - est_b) * BOA_CPU_NS_PER_SAVED_BYTE;
}

/* Codes stream block k: zstd -19, and with BOA also BOA, keeping the smaller; then decodes what
 * it keeps and compares, so only what is proven gets appended. */
static int code_block(struct fs *fs, uint64_t ino, uint64_t k, const uint8_t *raw, size_t n,
                      const struct codec_args *boa, uint8_t *out, uint8_t *boa_out, uint8_t *check,
                      struct extent *e)
{
	struct seg_record_info info = {0};
	const uint8_t *payload = out;
	size_t len = 0, blen = 0;
	struct extent probe = {0};
	int64_t cpu;
	int rc;

	cpu = fs_thread_cpu_ns();
	rc = encode_strong(fs, raw, n, out, &len, &info.codec);
	fs_account(fs, CODEC_ZSTD, FS_CPU_ENCODE, fs_thread_cpu_ns() - cpu, n);
	if (rc)
		return rc;
	if (boa) {
		cpu = fs_thread_cpu_ns();
		rc = codec_encode(fs->codec, CODEC_BOA, boa, raw, n, boa_out,
		                  boa_bound(fs->opt.block_size), &blen);
		fs_account(fs, CODEC_BOA, FS_CPU_ENCODE, fs_thread_cpu_ns() - cpu, n);
		if (rc)
			return rc;
		if (blen < len) {
			payload = boa_out;
			len = blen;
			info.codec = CODEC_BOA;
			info.model_id = boa->model ? boa_model_id(boa->model) : 0;
		}
	}
	info.raw_len = (uint32_t)n;
	info.raw_xxh64 = XXH64(raw, n, 0);
	info.ino = ino;
	info.block = FS_UNWRAP_STREAM_BLOCK0 + k;
	probe.codec = info.codec;
	probe.model_id = info.model_id;
	probe.raw_len = info.raw_len;
	probe.stored_len = (uint32_t)len;
	probe.raw_xxh64 = info.raw_xxh64;
	rc = fs_payload_decode(fs, ino, info.block, &probe, payload, check);
	if (rc)
		return rc;
	if (memcmp(check, raw, n)) {
		fs_log("inode %llu stream block %llu: %s did not decode back",
		       (unsigned long long)ino, (unsigned long long)k, codec_name(info.codec));
		return -EIO;
	}
	rc = seg_append(fs->seg, &info, payload, (uint32_t)len, e);
	if (!rc)
		e->flags |= EXTENT_BOA_TRIED; /* the coder was chosen for the whole file */
	return rc;
}

/* Proves, before anything is stored, that the plan re-creates every byte of the file from the
 * unwrapped bytes. */
static int plan_verify(uint64_t ino, const struct unwrap_plan *plan, const uint8_t *data,
                       const uint8_t *stream)
{
	uint8_t *logical = NULL;
	uint64_t cap = 0;
	int rc = 0;

	for (uint32_t i = 0; i < plan->n_pieces && !rc; i++) {
		const struct unwrap_piece *p = &plan->pieces[i];

		if (p->kind == UNWRAP_VERBATIM) {
			if (p->unwrapped_len != p->len ||
			    memcmp(stream + p->unwrapped_off, data + p->off, p->len))
				rc = -EIO;
			continue;
		}
		if (p->len > cap) {
			free(logical);
			cap = p->len;
			logical = malloc(cap);
			if (!logical)
				return -ENOMEM;
		}
		rc = unwrap_regenerate(p, stream + p->unwrapped_off, logical);
		if (!rc && memcmp(logical, data + p->off, p->len))
			rc = -EIO;
		if (rc && rc != -ENOMEM)
			log_piece(ino, (long)i, p,
			          "does not re-create at transform; file kept plain");
	}
	free(logical);
	return rc;
}

static const char *container_name(const struct unwrap_plan *plan)
{
	return plan->format == UNWRAP_FORMAT_GZIP ? "gzip" : "ROOT";
}

static int has_streams(const struct unwrap_plan *plan)
{
	for (uint32_t i = 0; i < plan->n_pieces; i++)
		if (plan->pieces[i].kind != UNWRAP_VERBATIM)
			return 1;
	return 0;
}

int fs_unwrap_transform(struct fs *fs, uint64_t ino, const int *stopping, struct boa_ctx *boa_ctx)
{
	uint32_t bs = fs->opt.block_size;
	struct unwrap_plan *plan = NULL;
	const struct boa_model *model = NULL;
	struct fs_node *n = NULL;
	struct extent *extents = NULL;
	uint8_t *data = NULL, *stream = NULL, *value = NULL;
	uint8_t *out = NULL, *boa_out = NULL, *check = NULL;
	uint64_t size, nblocks, nstream = 0, before, stored = 0;
	int64_t mtime, ctime, cpu0 = fs_thread_cpu_ns();
	int level = fs->opt.boa_level, use_boa = 0, rc;
	struct codec_args boa;
	size_t plan_len = 0, value_len;
	struct map_head h;

	rc = fs_node_get(fs, ino, &n);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	pthread_rwlock_rdlock(&n->lock);
	size = n->attr.size;
	mtime = n->attr.mtime_ns;
	ctime = n->attr.ctime_ns;
	before = n->attr.stored_bytes;
	/* Cold means nobody has it open; a file being written is tried once it has settled. */
	if (!S_ISREG(n->attr.mode) || n->open_count || n->ndirty || n->attr_dirty || n->damaged ||
	    size == 0 || size > FILE_MAX) {
		pthread_rwlock_unlock(&n->lock);
		goto out;
	}
	pthread_rwlock_unlock(&n->lock);
	rc = fs_unwrap_is_unwrapped(fs, ino);
	if (rc)
		goto out; /* 1: done already */
	nblocks = (size + bs - 1) / bs;
	data = malloc(nblocks * bs);
	if (!data) {
		rc = -ENOMEM;
		goto out;
	}
	/* Read without the node lock: the commit below checks that nothing changed meanwhile. */
	for (uint64_t b = 0; b < nblocks && !rc; b++)
		rc = stored_block_load(fs, ino, b, data + b * bs);
	if (rc)
		goto out;
	{
		struct unwrap_scan_opts o = {.max_unwrapped = UNWRAPPED_MAX};

		rc = unwrap_scan(data, size, &o, &plan);
	}
	if (rc)
		goto out;
	/* One line per container file that stays as it is, saying why. */
	if (plan->fallback == UNWRAP_DAMAGED_HEADER || plan->fallback == UNWRAP_DAMAGED_KEYS ||
	    plan->fallback == UNWRAP_DAMAGED_STREAM)
		fs_log("inode %llu: %s file, %s: stored as it is", (unsigned long long)ino,
		       container_name(plan), unwrap_fallback_str(plan->fallback));
	else if (plan->format != UNWRAP_FORMAT_PLAIN && !has_streams(plan))
		fs_log("inode %llu: %s file, no stream to unwrap (%u streams, %u of other codecs, "
		       "%s): stored as it is",
		       (unsigned long long)ino, container_name(plan), plan->stats.streams,
		       plan->stats.streams_other, unwrap_fallback_str(plan->fallback));
	if (!has_streams(plan) || __atomic_load_n(stopping, __ATOMIC_RELAXED)) {
		if (!__atomic_load_n(stopping, __ATOMIC_RELAXED))
			rc = mark_plain(fs, ino, mtime, ctime);
		goto out;
	}
	for (uint8_t lib = 1; lib < UNWRAP_LIB_COUNT; lib++)
		if (plan->lib_version[lib] && drifted(fs, lib, plan->lib_version[lib]))
			goto out; /* never write more files that depend on a drifted library */
	/* Baskets of one branch family side by side in the stream (man boafs, UNWRAPPED FILES). */
	rc = unwrap_plan_reorder(plan, data, size);
	if (rc)
		goto out;
	stream = malloc(plan->unwrapped_len ? plan->unwrapped_len : 1);
	if (!stream) {
		rc = -ENOMEM;
		goto out;
	}
	rc = unwrap_plan_unwrap(plan, data, size, stream);
	if (!rc)
		rc = plan_verify(ino, plan, data, stream);
	if (rc == -EIO) {
		fs_log("inode %llu: %s file, a stream does not re-create: stored as it is",
		       (unsigned long long)ino, container_name(plan));
		rc = mark_plain(fs, ino, mtime, ctime);
		goto out;
	}
	if (rc)
		goto out;
	/* The coder for the unwrapped bytes. */
	if (fs->opt.unwrap != FS_UNWRAP_ZSTD && boa_ctx) {
		if (boa_level_uses_model(level) > 0 && fs_model_current(fs, &model)) {
			level = 1;
			model = NULL;
		}
		boa = (struct codec_args){.model = model, .level = level, .boa = boa_ctx};
		use_boa = fs->opt.unwrap == FS_UNWRAP_BOA ||
		          choose_boa(fs, stream, plan->unwrapped_len, before, &boa);
	}
	nstream = (plan->unwrapped_len + bs - 1) / bs;
	extents = calloc(nstream ? nstream : 1, sizeof(*extents));
	out = malloc(codec_bound(bs));
	boa_out = malloc(boa_bound(bs));
	check = malloc(bs);
	if (!extents || !out || !boa_out || !check) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint64_t k = 0; k < nstream; k++) {
		uint64_t len =
		    plan->unwrapped_len - k * bs < bs ? plan->unwrapped_len - k * bs : bs;

		if (__atomic_load_n(stopping, __ATOMIC_RELAXED))
			goto out; /* unmounting: what was appended is left unreferenced */
		if (all_zero(stream + k * bs, len))
			continue;
		rc = code_block(fs, ino, k, stream + k * bs, len, use_boa ? &boa : NULL, out,
		                boa_out, check, &extents[k]);
		if (rc == -ECANCELED)
			rc = 0; /* unmounting: what was appended is left unreferenced */
		if (rc || __atomic_load_n(stopping, __ATOMIC_RELAXED))
			goto out;
		stored += extents[k].record_len;
	}
	/* Worth it only when it saves at least 1/16 of what the file takes now. */
	if (stored + stored / 16 >= before) {
		fs_log("inode %llu: %s file, unwrapped with %s it would take %" PRIu64
		       " bytes where it takes %" PRIu64 ": stored as it is",
		       (unsigned long long)ino, container_name(plan), use_boa ? "BOA" : "zstd -19",
		       stored, before);
		rc = mark_plain(fs, ino, mtime, ctime);
		goto out;
	}
	rc = seg_sync(fs->seg);
	if (rc)
		goto out;
	plan_len = unwrap_plan_encoded_size(plan);
	value_len = MAP_HEAD + plan_len + 8 * nblocks;
	value = malloc(value_len);
	if (!value) {
		rc = -ENOMEM;
		goto out;
	}
	rc = unwrap_plan_encode(plan, value + MAP_HEAD, plan_len, &plan_len);
	if (rc)
		goto out;
	for (uint64_t b = 0; b < nblocks; b++) {
		uint64_t len = size - b * bs < bs ? size - b * bs : bs;

		le64_put(value + MAP_HEAD + plan_len + 8 * b, XXH64(data + b * bs, len, 0));
	}
	h = (struct map_head){.state = MAP_UNWRAPPED,
	                      .coder = use_boa ? CODEC_BOA : CODEC_ZSTD,
	                      .block_size = bs,
	                      .mtime_ns = mtime,
	                      .ctime_ns = ctime,
	                      .plan_len = plan_len,
	                      .before_bytes = before,
	                      .cpu_ns = (uint64_t)(fs_thread_cpu_ns() - cpu0),
	                      .file_len = size,
	                      .unwrapped_len = plan->unwrapped_len};
	head_put(value, &h);
	pthread_rwlock_wrlock(&n->lock);
	if (n->attr.mtime_ns == mtime && n->attr.ctime_ns == ctime && n->attr.size == size &&
	    !n->ndirty && !n->attr_dirty && !n->open_count) {
		struct commit_op op = {fs, n, extents, nstream, value, value_len, plan};

		rc = fs_txn_run(fs, &n, 1, commit_body, &op);
		if (!rc) {
			fs_cache_invalidate(fs->cache, ino, 0);
			slots_drop(fs->unwrap, ino);
			fs_log("inode %llu: unwrapped %u of %u streams (%" PRIu64
			       " bytes unwrapped "
			       "from %" PRIu64 "); stored %" PRIu64 " -> %" PRIu64
			       " bytes with %s, %.2f CPU s",
			       (unsigned long long)ino, plan->stats.streams_unwrapped,
			       plan->stats.streams, plan->unwrapped_len, size, before, stored,
			       use_boa ? "BOA" : "zstd -19", (double)h.cpu_ns / 1e9);
		}
	}
	pthread_rwlock_unlock(&n->lock);
out:
	/* Committed or given up: gc may judge these records by the index now (seg_settle). */
	for (uint64_t k = 0; extents && k < nstream; k++)
		seg_settle(fs->seg, &extents[k]);
	if (n)
		fs_node_put(fs, n);
	unwrap_plan_free(plan);
	free(data);
	free(stream);
	free(value);
	free(extents);
	free(out);
	free(boa_out);
	free(check);
	return rc < 0 ? rc : 0;
}

/* ---- fsck and stats ---- */

struct list_walk {
	uint64_t *inos;
	size_t count, cap;
	struct fs_unwrap_totals *totals;
};

static int list_step(void *arg, uint64_t ino, const void *value, size_t len)
{
	struct list_walk *w = arg;
	const uint8_t *v = value;

	if (len < MAP_HEAD || v[6] != MAP_UNWRAPPED)
		return 0;
	if (w->totals) {
		w->totals->files++;
		w->totals->logical_bytes += le64_get(v + 56);
		w->totals->unwrapped_bytes += le64_get(v + 64);
		w->totals->before_bytes += le64_get(v + 40);
		w->totals->cpu_ns += le64_get(v + 48);
	}
	if (w->count == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		uint64_t *bigger = realloc(w->inos, cap * sizeof(*bigger));

		if (!bigger)
			return -ENOMEM;
		w->inos = bigger;
		w->cap = cap;
	}
	w->inos[w->count++] = ino;
	return 0;
}

static int list_unwrapped(struct fs *fs, struct list_walk *w)
{
	struct idx_txn *t = NULL;
	int rc = idx_read_begin(fs->idx, &t);

	if (rc)
		return rc;
	rc = idx_unwrap_each(t, list_step, w);
	idx_read_end(t);
	return rc;
}

int fs_unwrap_verify_all(struct fs *fs, fs_unwrap_bad_cb bad, void *arg, uint64_t *files)
{
	struct list_walk w = {0};
	uint8_t *buf = malloc(fs->opt.block_size);
	int rc;

	*files = 0;
	if (!buf)
		return -ENOMEM;
	rc = list_unwrapped(fs, &w);
	for (size_t i = 0; i < w.count && !rc; i++) {
		struct map m;
		uint64_t nblocks, failed;
		int err;

		err = map_load(fs, w.inos[i], 0, &m);
		if (err) {
			bad(arg, w.inos[i], UINT64_MAX, err);
			continue;
		}
		nblocks = (m.head.file_len + fs->opt.block_size - 1) / fs->opt.block_size;
		unwrap_plan_free(m.plan);
		failed = 0;
		for (uint64_t b = 0; b < nblocks && !rc; b++) {
			err = fs_unwrap_block_load(fs, w.inos[i], b, buf);
			if (err == -ENOMEM)
				rc = err;
			else if (err) { /* reported, and on: every block that fails */
				bad(arg, w.inos[i], b, err);
				failed++;
			}
		}
		if (!rc && !failed)
			(*files)++;
		slots_drop(fs->unwrap, w.inos[i]);
	}
	free(w.inos);
	free(buf);
	return rc;
}

int fs_unwrap_totals(struct fs *fs, struct fs_unwrap_totals *out)
{
	struct list_walk w = {0};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = list_unwrapped(fs, &w);
	if (!rc)
		rc = fs_unwrap_totals_of(fs, w.inos, w.count, out);
	free(w.inos);
	return rc;
}

int fs_unwrap_totals_of(struct fs *fs, const uint64_t *inos, size_t n, struct fs_unwrap_totals *out)
{
	struct list_walk w = {.totals = out};
	struct idx_txn *t = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = idx_read_begin(fs->idx, &t);
	for (size_t i = 0; i < n && !rc; i++) {
		uint64_t files = out->files;
		struct idx_inode in;
		const void *v;
		size_t len;

		rc = idx_unwrap_get(t, inos[i], &v, &len);
		if (rc == -ENOENT) {
			rc = 0;
			continue;
		}
		if (!rc)
			rc = list_step(&w, inos[i], v, len);
		/* The inode's stored bytes are its stream blocks' records: it has no others. */
		if (!rc && out->files != files && idx_inode_get(t, inos[i], &in) == 0)
			out->stored_bytes += in.stored_bytes;
	}
	if (t)
		idx_read_end(t);
	free(w.inos);
	return rc;
}
