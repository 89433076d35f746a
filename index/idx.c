/* idx — the archive's metadata and block index in one LMDB environment. Key and value layouts
 * are in index/FORMAT.md; keep the two in step.
 *
 * Map growth: LMDB may only change the map size while no transaction of this process is active
 * (a reset read handle is not active, but renewing one must not race the remap). So every active
 * transaction, read or write, holds `map_lock` shared; growing takes it exclusive, in
 * idx_write_begin after a transaction ran out of map (MDB_MAP_FULL). */
#include "byteorder.h"
#include "idx.h"

#include <errno.h>
#include <assert.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define IDX_MAP_SIZE_DEFAULT (64ull << 20)
#define IDX_MAX_READERS      512
#define IDX_MAX_DBS          16
#define IDX_XATTR_VALUE_MAX  (64u << 10)

#define INODE_VALUE_LEN  72
#define EXTENT_VALUE_LEN 52
#define DIRENT_VALUE_LEN 9
#define USAGE_VALUE_LEN  16

/* The byte layouts of the values (index/FORMAT.md gives each field's offset and size; integers
 * are little-endian). Fields are byte arrays, so the compiler adds no padding: sizeof and
 * offsetof below are the format, and the asserts hold them to FORMAT.md. Encoders and decoders
 * write and read at these offsets (VAL_AT). */
struct inode_value {
	uint8_t mode[4], uid[4], gid[4], nlink[4], size[8], stored_bytes[8], atime_ns[8],
	    mtime_ns[8], ctime_ns[8], generation[8], rdev[8];
};
struct extent_value {
	uint8_t segment[8], offset[8], record_len[4], stored_len[4], raw_len[4], model_id[4],
	    raw_xxh64[8], written_at_ns[8], codec, flags, reserved[2];
};
struct dirent_value {
	uint8_t ino[8], dtype;
};
struct usage_value {
	uint8_t live_bytes[8], dead_bytes[8];
};
#define VAL_AT(v, type, field) ((v) + offsetof(struct type, field))

static_assert(sizeof(struct inode_value) == INODE_VALUE_LEN, "inode value: 72 bytes");
static_assert(offsetof(struct inode_value, uid) == 4 && offsetof(struct inode_value, gid) == 8 &&
                  offsetof(struct inode_value, nlink) == 12 &&
                  offsetof(struct inode_value, size) == 16 &&
                  offsetof(struct inode_value, stored_bytes) == 24 &&
                  offsetof(struct inode_value, atime_ns) == 32 &&
                  offsetof(struct inode_value, mtime_ns) == 40 &&
                  offsetof(struct inode_value, ctime_ns) == 48 &&
                  offsetof(struct inode_value, generation) == 56 &&
                  offsetof(struct inode_value, rdev) == 64,
              "inode value layout as in index/FORMAT.md");
static_assert(sizeof(struct extent_value) == EXTENT_VALUE_LEN, "extent value: 52 bytes");
static_assert(offsetof(struct extent_value, offset) == 8 &&
                  offsetof(struct extent_value, record_len) == 16 &&
                  offsetof(struct extent_value, stored_len) == 20 &&
                  offsetof(struct extent_value, raw_len) == 24 &&
                  offsetof(struct extent_value, model_id) == 28 &&
                  offsetof(struct extent_value, raw_xxh64) == 32 &&
                  offsetof(struct extent_value, written_at_ns) == 40 &&
                  offsetof(struct extent_value, codec) == 48 &&
                  offsetof(struct extent_value, flags) == 49 &&
                  offsetof(struct extent_value, reserved) == 50,
              "extent value layout as in index/FORMAT.md");
static_assert(sizeof(struct dirent_value) == DIRENT_VALUE_LEN &&
                  offsetof(struct dirent_value, dtype) == 8,
              "dirent value: u64 ino, u8 type");
static_assert(sizeof(struct usage_value) == USAGE_VALUE_LEN &&
                  offsetof(struct usage_value, dead_bytes) == 8,
              "segment usage value: u64 live, u64 dead");

/* An error code LMDB never returns: a guarded call faulted (logged by the guard). */
#define IDX_FAULT (MDB_LAST_ERRCODE - 1)

enum idx_db {
	DB_META,
	DB_INODES,
	DB_DIRENTS,
	DB_BLOCKS,
	DB_XATTRS,
	DB_MODELS,
	DB_SEGMENTS,
	DB_ORPHANS,
	DB_UNWRAP,
	DB_COUNT
};

static const char *const db_names[DB_COUNT] = {
    [DB_META] = "meta",         [DB_INODES] = "inodes",   [DB_DIRENTS] = "dirents",
    [DB_BLOCKS] = "blocks",     [DB_XATTRS] = "xattrs",   [DB_MODELS] = "models",
    [DB_SEGMENTS] = "segments", [DB_ORPHANS] = "orphans", [DB_UNWRAP] = "unwrap",
};

struct idx_txn {
	struct idx *idx;
	MDB_txn *txn;
	bool write;
	/* read handles: nesting depth of idx_read_begin on this thread (0 = reset) */
	unsigned depth;
	/* write handles: a call hit MDB_MAP_FULL; the transaction can only be aborted */
	bool map_full;
	/* a call faulted on a damaged page (see the fault guard): the transaction can only end */
	bool faulted;
	struct idx_txn *next, *prev; /* all cached read handles, for idx_close */
};

struct idx {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	pthread_key_t reader_key;
	pthread_mutex_t readers_lock; /* guards the readers list */
	struct idx_txn *readers;
	pthread_rwlock_t map_lock;
	atomic_bool grow_needed;
	/* a write transaction faulted on a damaged page (see the fault guard): writes refused */
	atomic_bool write_faulted;
	size_t map_size;
	/* the archive's format version, read at open; idx_format_raise moves it up */
	atomic_uint_fast64_t format_version;
};

/* ---- encodings ---- */

static void inode_encode(uint8_t *v, const struct idx_inode *in)
{
	le32_put(VAL_AT(v, inode_value, mode), in->mode);
	le32_put(VAL_AT(v, inode_value, uid), in->uid);
	le32_put(VAL_AT(v, inode_value, gid), in->gid);
	le32_put(VAL_AT(v, inode_value, nlink), in->nlink);
	le64_put(VAL_AT(v, inode_value, size), in->size);
	le64_put(VAL_AT(v, inode_value, stored_bytes), in->stored_bytes);
	le64_put(VAL_AT(v, inode_value, atime_ns), (uint64_t)in->atime_ns);
	le64_put(VAL_AT(v, inode_value, mtime_ns), (uint64_t)in->mtime_ns);
	le64_put(VAL_AT(v, inode_value, ctime_ns), (uint64_t)in->ctime_ns);
	le64_put(VAL_AT(v, inode_value, generation), in->generation);
	le64_put(VAL_AT(v, inode_value, rdev), in->rdev);
}

static void inode_decode(const uint8_t *v, uint64_t ino, struct idx_inode *out)
{
	out->ino = ino;
	out->mode = le32_get(VAL_AT(v, inode_value, mode));
	out->uid = le32_get(VAL_AT(v, inode_value, uid));
	out->gid = le32_get(VAL_AT(v, inode_value, gid));
	out->nlink = le32_get(VAL_AT(v, inode_value, nlink));
	out->size = le64_get(VAL_AT(v, inode_value, size));
	out->stored_bytes = le64_get(VAL_AT(v, inode_value, stored_bytes));
	out->atime_ns = (int64_t)le64_get(VAL_AT(v, inode_value, atime_ns));
	out->mtime_ns = (int64_t)le64_get(VAL_AT(v, inode_value, mtime_ns));
	out->ctime_ns = (int64_t)le64_get(VAL_AT(v, inode_value, ctime_ns));
	out->generation = le64_get(VAL_AT(v, inode_value, generation));
	out->rdev = le64_get(VAL_AT(v, inode_value, rdev));
}

static void extent_encode(uint8_t *v, const struct extent *e)
{
	le64_put(VAL_AT(v, extent_value, segment), e->segment);
	le64_put(VAL_AT(v, extent_value, offset), e->offset);
	le32_put(VAL_AT(v, extent_value, record_len), e->record_len);
	le32_put(VAL_AT(v, extent_value, stored_len), e->stored_len);
	le32_put(VAL_AT(v, extent_value, raw_len), e->raw_len);
	le32_put(VAL_AT(v, extent_value, model_id), e->model_id);
	le64_put(VAL_AT(v, extent_value, raw_xxh64), e->raw_xxh64);
	le64_put(VAL_AT(v, extent_value, written_at_ns), (uint64_t)e->written_at_ns);
	*VAL_AT(v, extent_value, codec) = e->codec;
	*VAL_AT(v, extent_value, flags) = e->flags;
	memset(VAL_AT(v, extent_value, reserved), 0, sizeof(((struct extent_value *)0)->reserved));
}

static void extent_decode(const uint8_t *v, struct extent *e)
{
	e->segment = le64_get(VAL_AT(v, extent_value, segment));
	e->offset = le64_get(VAL_AT(v, extent_value, offset));
	e->record_len = le32_get(VAL_AT(v, extent_value, record_len));
	e->stored_len = le32_get(VAL_AT(v, extent_value, stored_len));
	e->raw_len = le32_get(VAL_AT(v, extent_value, raw_len));
	e->model_id = le32_get(VAL_AT(v, extent_value, model_id));
	e->raw_xxh64 = le64_get(VAL_AT(v, extent_value, raw_xxh64));
	e->written_at_ns = (int64_t)le64_get(VAL_AT(v, extent_value, written_at_ns));
	e->codec = *VAL_AT(v, extent_value, codec);
	e->flags = *VAL_AT(v, extent_value, flags);
}

/* ---- errors ---- */

/* Maps an LMDB (or errno) code to a negative errno, logging what is not an ordinary outcome.
 * MDB_MAP_FULL in a write transaction marks the map for growth before the next write begins. */
static int idx_err(struct idx_txn *t, int rc, const char *what)
{
	switch (rc) {
	case 0:
		return 0;
	case IDX_FAULT: /* logged by the guard */
		return -EIO;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_BAD_TXN:
		/* LMDB refuses every call after a failed one; after MAP_FULL that is expected */
		if (t && t->map_full)
			return -EAGAIN;
		break;
	case MDB_MAP_FULL:
		if (t && t->write) {
			t->map_full = true;
			atomic_store(&t->idx->grow_needed, true);
			return -EAGAIN;
		}
		break;
	default:
		break;
	}
	fprintf(stderr, "boafs: index: %s: %s\n", what, mdb_strerror(rc));
	switch (rc) {
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_PANIC:
	case MDB_BAD_TXN:
	case MDB_BAD_VALSIZE:
	case MDB_BAD_DBI:
	case MDB_INCOMPATIBLE:
		return -EIO;
	case MDB_READERS_FULL:
	case MDB_TLS_FULL:
		return -EBUSY;
	case MDB_TXN_FULL:
	case MDB_CURSOR_FULL:
	case MDB_PAGE_FULL:
		return -E2BIG;
	case MDB_MAP_RESIZED:
		return -EAGAIN;
	case MDB_DBS_FULL:
		return -EMFILE;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

/* ---- the fault guard ----
 *
 * LMDB keeps no checksums: it trusts page numbers, node offsets and sizes read from the file. A
 * damaged branch or leaf page can make it read outside the file (SIGBUS) or the map (SIGSEGV), or
 * fail one of its own assertions (which would abort). Every LMDB call that reads pages runs under
 * this guard, so such a fault becomes -EIO and a log line, and the daemon goes on serving the
 * files the damage does not reach. The transaction that faulted is marked and can only end; its
 * state inside LMDB is not trusted again.
 *
 * A signal handler cannot reach the daemon's context, so the innermost armed guard of a thread is
 * thread-local, and the handlers the guard replaced are kept for faults outside any guard (real
 * bugs keep crashing the way they did). */

struct idx_guard {
	sigjmp_buf jump;
	struct idx_guard *outer;
	volatile int sig; /* the signal caught, or 0 for an LMDB assertion */
	char why[160];    /* the assertion's text */
};

static _Thread_local struct idx_guard *guard_top;
static struct sigaction guard_prev_bus, guard_prev_segv;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

static void guard_on_signal(int sig, siginfo_t *info, void *ucontext)
{
	struct idx_guard *g = guard_top;

	(void)info;
	(void)ucontext;
	if (g) {
		guard_top = g->outer;
		g->sig = sig;
		siglongjmp(g->jump, 1);
	}
	/* Not inside LMDB: put back the handler we displaced; returning re-runs the faulting
	 * instruction under it. */
	sigaction(sig, sig == SIGBUS ? &guard_prev_bus : &guard_prev_segv, NULL);
}

static void guard_install(void)
{
	struct sigaction sa = {.sa_sigaction = guard_on_signal,
	                       .sa_flags = SA_SIGINFO | SA_NODEFER};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &guard_prev_bus);
	sigaction(SIGSEGV, &sa, &guard_prev_segv);
}

static void guard_on_assert(MDB_env *env, const char *msg)
{
	struct idx_guard *g = guard_top;

	(void)env;
	if (g) {
		guard_top = g->outer;
		g->sig = 0;
		snprintf(g->why, sizeof(g->why), "%s", msg);
		siglongjmp(g->jump, 1);
	}
	fprintf(stderr, "boafs: index: LMDB assertion outside a guarded call: %s\n", msg);
}

/* Reads one byte of every page of a value LMDB handed out, so that a garbage pointer or size
 * faults here, under the guard, rather than later in a decoder. */
static void touch(const MDB_val *v)
{
	const volatile uint8_t *p;

	if (!v || !v->mv_size)
		return;
	p = v->mv_data;
	for (size_t i = 0; i < v->mv_size; i += 4096)
		(void)p[i];
	(void)p[v->mv_size - 1];
}

enum lmdb_call {
	CALL_GET,
	CALL_PUT,
	CALL_DEL,
	CALL_CURSOR_GET,
	CALL_CURSOR_DEL,
	CALL_DBI_OPEN,
	CALL_COMMIT,
	CALL_ABORT,
};

struct lmdb_op {
	enum lmdb_call call;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cursor;
	MDB_val *key, *val;
	MDB_cursor_op cursor_op;
	unsigned flags;
	const char *name; /* CALL_DBI_OPEN */
	MDB_dbi *dbi_out;
};

static int lmdb_run(const struct lmdb_op *op)
{
	int rc;

	switch (op->call) {
	case CALL_GET:
		rc = mdb_get(op->txn, op->dbi, op->key, op->val);
		break;
	case CALL_PUT:
		return mdb_put(op->txn, op->dbi, op->key, op->val, op->flags);
	case CALL_DEL:
		return mdb_del(op->txn, op->dbi, op->key, NULL);
	case CALL_CURSOR_GET:
		rc = mdb_cursor_get(op->cursor, op->key, op->val, op->cursor_op);
		if (!rc)
			touch(op->key);
		break;
	case CALL_CURSOR_DEL:
		return mdb_cursor_del(op->cursor, op->flags);
	case CALL_DBI_OPEN:
		return mdb_dbi_open(op->txn, op->name, op->flags, op->dbi_out);
	case CALL_COMMIT:
		return mdb_txn_commit(op->txn);
	case CALL_ABORT:
		mdb_txn_abort(op->txn);
		return 0;
	default:
		return EINVAL;
	}
	if (!rc)
		touch(op->val);
	return rc;
}

/* Runs one LMDB call under the guard: its LMDB result, or IDX_FAULT after logging the fault and
 * marking `t` (when given) faulted. A faulted transaction refuses every further call. */
static int guarded(struct idx_txn *t, const char *what, const struct lmdb_op *op)
{
	struct idx_guard g;
	int rc;

	if (t && t->faulted)
		return IDX_FAULT;
	g.outer = guard_top;
	g.sig = 0;
	g.why[0] = '\0';
	if (sigsetjmp(g.jump, 0)) {
		/* guard_top was already popped by the handler */
		if (g.sig)
			fprintf(stderr,
			        "boafs: index: %s: %s reading index/data.mdb: a damaged page; the "
			        "operation fails with EIO (run boa fsck)\n",
			        what, g.sig == SIGBUS ? "bus error" : "invalid address");
		else
			fprintf(
			    stderr,
			    "boafs: index: %s: LMDB found a damaged page in index/data.mdb (%s); "
			    "the operation fails with EIO (run boa fsck)\n",
			    what, g.why);
		if (t) {
			t->faulted = true;
			if (t->write)
				atomic_store(&t->idx->write_faulted, true);
		}
		return IDX_FAULT;
	}
	guard_top = &g;
	rc = lmdb_run(op);
	guard_top = g.outer;
	return rc;
}

static int dbi_open(struct idx_txn *t, const char *name, unsigned flags, MDB_dbi *out)
{
	struct lmdb_op op = {
	    .call = CALL_DBI_OPEN, .txn = t->txn, .name = name, .flags = flags, .dbi_out = out};

	return guarded(t, name, &op);
}

static int txn_commit(struct idx_txn *t)
{
	struct lmdb_op op = {.call = CALL_COMMIT, .txn = t->txn};

	return guarded(t, "commit", &op);
}

/* Ends a transaction. A read transaction that faulted is aborted under the guard (LMDB keeps no
 * state for its cursors). A write transaction that faulted is left as it is: LMDB links cursors
 * on the stack of the call that faulted into it, and aborting would walk and free them. It keeps
 * LMDB's writer lock, so every later write transaction is refused (write_faulted) until the
 * daemon restarts; readers never take that lock. */
static void txn_abort(struct idx_txn *t)
{
	struct lmdb_op op = {.call = CALL_ABORT, .txn = t->txn};

	if (!t->faulted) {
		mdb_txn_abort(t->txn);
		return;
	}
	if (t->write) {
		fprintf(stderr,
		        "boafs: index: a write transaction met a damaged page; the index "
		        "takes no more writes until it is checked (boa fsck) and remounted\n");
		return;
	}
	(void)guarded(NULL, "abort", &op);
}

/* ---- generic get/put ---- */

static int db_get(struct idx_txn *t, enum idx_db db, const void *key, size_t klen, MDB_val *val)
{
	MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
	struct lmdb_op op = {
	    .call = CALL_GET, .txn = t->txn, .dbi = t->idx->dbi[db], .key = &k, .val = val};

	return idx_err(t, guarded(t, db_names[db], &op), db_names[db]);
}

static int db_put(struct idx_txn *t, enum idx_db db, const void *key, size_t klen, const void *val,
                  size_t vlen)
{
	MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
	MDB_val v = {.mv_size = vlen, .mv_data = (void *)val};
	struct lmdb_op op = {
	    .call = CALL_PUT, .txn = t->txn, .dbi = t->idx->dbi[db], .key = &k, .val = &v};

	if (!t->write)
		return -EROFS;
	return idx_err(t, guarded(t, db_names[db], &op), db_names[db]);
}

static int db_del(struct idx_txn *t, enum idx_db db, const void *key, size_t klen)
{
	MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
	struct lmdb_op op = {.call = CALL_DEL, .txn = t->txn, .dbi = t->idx->dbi[db], .key = &k};

	if (!t->write)
		return -EROFS;
	return idx_err(t, guarded(t, db_names[db], &op), db_names[db]);
}

static int value_corrupt(enum idx_db db, size_t got, size_t want)
{
	fprintf(stderr, "boafs: index: %s: value of %zu bytes, expected %zu\n", db_names[db], got,
	        want);
	return -EIO;
}

/* ---- environment ---- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The map size to open with: the test hook BOAFS_IDX_MAP_SIZE (bytes) or the default, but never
 * less than the data file already holds, so an index that grew keeps its size across opens. */
static size_t initial_map_size(const char *dir)
{
	size_t size = IDX_MAP_SIZE_DEFAULT;
	const char *env = getenv("BOAFS_IDX_MAP_SIZE");
	char path[4096];
	struct stat st;
	long page = sysconf(_SC_PAGESIZE);

	if (env && *env) {
		char *end;
		unsigned long long v = strtoull(env, &end, 0);
		if (*end == '\0' && v > 0)
			size = (size_t)v;
	}
	if (snprintf(path, sizeof(path), "%s/data.mdb", dir) < (int)sizeof(path) &&
	    stat(path, &st) == 0 && (size_t)st.st_size > size)
		size = (size_t)st.st_size;
	size = (size + (size_t)page - 1) / (size_t)page * (size_t)page;
	return size;
}

static void reader_destroy(void *arg)
{
	struct idx_txn *t = arg;
	struct idx *idx = t->idx;

	pthread_mutex_lock(&idx->readers_lock);
	if (t->prev)
		t->prev->next = t->next;
	else
		idx->readers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&idx->readers_lock);
	mdb_txn_abort(t->txn);
	free(t);
}

static int meta_init(struct idx_txn *t, uint32_t block_size, uint32_t root_uid, uint32_t root_gid)
{
	uint8_t uuid[16];
	struct idx_inode root;
	int64_t now = now_ns();
	size_t got = 0;
	int rc;

	while (got < sizeof(uuid)) {
		ssize_t n = getrandom(uuid + got, sizeof(uuid) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			fprintf(stderr, "boafs: index: getrandom: %s\n", strerror(errno));
			return rc;
		}
		got += (size_t)n;
	}
	/* A new archive is written at the oldest version that can describe it, so older builds
	 * keep reading it until a feature that needs more (an unwrapped file) is first used. */
	rc = idx_meta_put_u64(t, "format_version", IDX_FORMAT_VERSION_MIN);
	if (!rc)
		rc = idx_meta_put_u64(t, "block_size", block_size);
	if (!rc)
		rc = db_put(t, DB_META, "uuid", 4, uuid, sizeof(uuid));
	if (!rc)
		rc = idx_meta_put_u64(t, "next_ino", IDX_ROOT_INO + 1);
	if (rc)
		return rc;
	memset(&root, 0, sizeof(root));
	root.ino = IDX_ROOT_INO;
	root.mode = S_IFDIR | 0755;
	root.uid = root_uid;
	root.gid = root_gid;
	root.nlink = 2;
	root.atime_ns = root.mtime_ns = root.ctime_ns = now;
	root.generation = 1;
	return idx_inode_put(t, &root);
}

/* Opens the named databases and checks (or, for a new index, writes) meta. */
static int idx_setup(struct idx *idx, int create, uint32_t *block_size, uint32_t root_uid,
                     uint32_t root_gid)
{
	struct idx_txn t = {.idx = idx, .write = true};
	bool fresh = false;
	uint64_t v;
	int rc;

	rc = mdb_txn_begin(idx->env, NULL, 0, &t.txn);
	if (rc)
		return idx_err(NULL, rc, "begin setup");
	rc = dbi_open(&t, db_names[DB_META], 0, &idx->dbi[DB_META]);
	if (rc == MDB_NOTFOUND && create) {
		fresh = true;
		rc = dbi_open(&t, db_names[DB_META], MDB_CREATE, &idx->dbi[DB_META]);
	}
	if (rc == MDB_NOTFOUND) {
		fprintf(stderr, "boafs: index: no meta database: not a boafs index\n");
		rc = -EINVAL;
		goto abort;
	}
	if (rc) {
		rc = idx_err(NULL, rc, "open meta");
		goto abort;
	}
	for (int i = DB_META + 1; i < DB_COUNT; i++) {
		rc = dbi_open(&t, db_names[i], MDB_CREATE, &idx->dbi[i]);
		if (rc) {
			rc = idx_err(NULL, rc, db_names[i]);
			goto abort;
		}
	}
	if (fresh) {
		atomic_store(&idx->format_version, IDX_FORMAT_VERSION_MIN);
		rc = meta_init(&t, *block_size, root_uid, root_gid);
		if (rc)
			goto abort;
	} else {
		rc = idx_meta_get_u64(&t, "format_version", &v);
		if (rc == -ENOENT) {
			fprintf(stderr, "boafs: index: meta has no format version\n");
			rc = -EINVAL;
		}
		if (rc)
			goto abort;
		if (v < IDX_FORMAT_VERSION_MIN || v > IDX_FORMAT_VERSION) {
			fprintf(stderr,
			        "boafs: index: format version %llu, this build reads %d to %d\n",
			        (unsigned long long)v, IDX_FORMAT_VERSION_MIN, IDX_FORMAT_VERSION);
			rc = -EPROTO;
			goto abort;
		}
		atomic_store(&idx->format_version, v);
		rc = idx_meta_get_u64(&t, "block_size", &v);
		if (rc == -ENOENT || (!rc && (v == 0 || v > UINT32_MAX))) {
			fprintf(stderr, "boafs: index: meta has no valid block size\n");
			rc = -EINVAL;
		}
		if (rc)
			goto abort;
		*block_size = (uint32_t)v;
	}
	rc = txn_commit(&t);
	if (rc == IDX_FAULT)
		txn_abort(&t);
	return rc ? idx_err(&t, rc, "commit setup") : 0;
abort:
	txn_abort(&t);
	return rc;
}

/* LMDB maps the file and trusts its meta page: pages the meta page names past the end of a
 * truncated file would be a SIGBUS at first touch. Refuse such an index up front. */
static int check_file_size(struct idx *idx, const char *path)
{
	MDB_envinfo info;
	MDB_stat stat_;
	struct stat st;

	if (mdb_env_info(idx->env, &info) || mdb_env_stat(idx->env, &stat_) || stat(path, &st))
		return 0;
	if ((uint64_t)(info.me_last_pgno + 1) * stat_.ms_psize > (uint64_t)st.st_size) {
		fprintf(stderr,
		        "boafs: index: %s: truncated (%llu bytes, its pages need %llu); restore it "
		        "from a backup\n",
		        path, (unsigned long long)st.st_size,
		        (unsigned long long)(info.me_last_pgno + 1) * stat_.ms_psize);
		return -EIO;
	}
	return 0;
}

int idx_open(const char *dir, int create, uint32_t *block_size, uint32_t root_uid,
             uint32_t root_gid, struct idx **out)
{
	struct idx *idx;
	char path[4096];
	struct stat st;
	int dead, rc;

	*out = NULL;
	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		fprintf(stderr, "boafs: index: mkdir %s: %s\n", dir, strerror(errno));
		return rc;
	}
	if (stat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	/* Without `create`, never let LMDB make a new, empty environment. */
	if (snprintf(path, sizeof(path), "%s/data.mdb", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (!create && stat(path, &st) < 0) {
		fprintf(stderr, "boafs: index: %s: not an index (no data.mdb)\n", dir);
		return -EINVAL;
	}

	idx = calloc(1, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	if (pthread_key_create(&idx->reader_key, reader_destroy)) {
		free(idx);
		return -EAGAIN;
	}
	pthread_mutex_init(&idx->readers_lock, NULL);
	pthread_rwlock_init(&idx->map_lock, NULL);
	atomic_init(&idx->grow_needed, false);
	atomic_init(&idx->write_faulted, false);
	idx->map_size = initial_map_size(dir);

	rc = mdb_env_create(&idx->env);
	if (rc) {
		idx->env = NULL;
		rc = idx_err(NULL, rc, "env create");
		goto fail;
	}
	pthread_once(&guard_once, guard_install);
	mdb_env_set_assert(idx->env, guard_on_assert);
	mdb_env_set_maxreaders(idx->env, IDX_MAX_READERS);
	mdb_env_set_maxdbs(idx->env, IDX_MAX_DBS);
	mdb_env_set_mapsize(idx->env, idx->map_size);
	rc = mdb_env_open(idx->env, dir, MDB_NOTLS | MDB_NOMETASYNC, 0600);
	if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
		fprintf(stderr, "boafs: index: %s: not an LMDB environment\n", dir);
		rc = -EINVAL;
		goto fail;
	}
	if (rc) {
		rc = idx_err(NULL, rc, "env open");
		goto fail;
	}
	mdb_reader_check(idx->env, &dead); /* slots of crashed processes */
	rc = check_file_size(idx, path);
	if (rc)
		goto fail;
	rc = idx_setup(idx, create, block_size, root_uid, root_gid);
	if (rc)
		goto fail;
	*out = idx;
	return 0;
fail:
	if (idx->env)
		mdb_env_close(idx->env);
	pthread_key_delete(idx->reader_key);
	pthread_rwlock_destroy(&idx->map_lock);
	pthread_mutex_destroy(&idx->readers_lock);
	free(idx);
	return rc;
}

/* Every thread must have ended its transactions; cached read handles of all threads are freed. */
void idx_close(struct idx *idx)
{
	struct idx_txn *t, *next;

	if (!idx)
		return;
	/* Clear this thread's slot too, so a later key with the same number starts empty. */
	pthread_setspecific(idx->reader_key, NULL);
	pthread_key_delete(idx->reader_key); /* no destructor runs after this */
	for (t = idx->readers; t; t = next) {
		next = t->next;
		mdb_txn_abort(t->txn);
		free(t);
	}
	mdb_env_close(idx->env);
	pthread_rwlock_destroy(&idx->map_lock);
	pthread_mutex_destroy(&idx->readers_lock);
	free(idx);
}

int idx_sync(struct idx *idx)
{
	return idx_err(NULL, mdb_env_sync(idx->env, 1), "sync");
}

/* ---- transactions ---- */

int idx_read_begin(struct idx *idx, struct idx_txn **out)
{
	struct idx_txn *t = pthread_getspecific(idx->reader_key);
	int rc;

	*out = NULL;
	if (t && t->depth > 0) { /* nested begin on this thread: share the snapshot */
		t->depth++;
		*out = t;
		return 0;
	}
	pthread_rwlock_rdlock(&idx->map_lock);
	if (t && !t->txn) { /* its last transaction faulted and was dropped */
		rc = mdb_txn_begin(idx->env, NULL, MDB_RDONLY, &t->txn);
		if (rc) {
			t->txn = NULL;
			pthread_rwlock_unlock(&idx->map_lock);
			return idx_err(NULL, rc, "begin read txn");
		}
	} else if (t) {
		rc = mdb_txn_renew(t->txn);
		if (rc) {
			pthread_rwlock_unlock(&idx->map_lock);
			return idx_err(NULL, rc, "renew read txn");
		}
	} else {
		t = calloc(1, sizeof(*t));
		if (!t) {
			pthread_rwlock_unlock(&idx->map_lock);
			return -ENOMEM;
		}
		t->idx = idx;
		rc = mdb_txn_begin(idx->env, NULL, MDB_RDONLY, &t->txn);
		if (rc) {
			pthread_rwlock_unlock(&idx->map_lock);
			free(t);
			return idx_err(NULL, rc, "begin read txn");
		}
		pthread_mutex_lock(&idx->readers_lock);
		t->next = idx->readers;
		if (t->next)
			t->next->prev = t;
		idx->readers = t;
		pthread_mutex_unlock(&idx->readers_lock);
		pthread_setspecific(idx->reader_key, t);
	}
	t->depth = 1;
	*out = t;
	return 0;
}

void idx_read_end(struct idx_txn *t)
{
	if (!t)
		return;
	if (t->write) { /* tolerate a caller that ends a write txn here: abort it */
		idx_write_abort(t);
		return;
	}
	if (t->depth == 0 || --t->depth > 0)
		return;
	if (t->faulted) { /* never renew a handle whose cursors LMDB left mid-step */
		txn_abort(t);
		t->txn = NULL;
		t->faulted = false;
	} else {
		mdb_txn_reset(t->txn);
	}
	pthread_rwlock_unlock(&t->idx->map_lock);
}

/* Doubles the map; called with map_lock held exclusively (no transaction active). */
static int idx_grow(struct idx *idx)
{
	size_t size = idx->map_size * 2;
	int rc = mdb_env_set_mapsize(idx->env, size);

	if (rc) {
		fprintf(stderr, "boafs: index: growing map to %zu bytes: %s\n", size,
		        mdb_strerror(rc));
		return -ENOSPC;
	}
	idx->map_size = size;
	return 0;
}

int idx_write_begin(struct idx *idx, struct idx_txn **out)
{
	struct idx_txn *t, *mine;
	int rc;

	*out = NULL;
	if (atomic_load(&idx->write_faulted))
		return -EIO; /* LMDB's writer lock is held by the transaction that faulted */
	if (atomic_load(&idx->grow_needed)) {
		/* Growing waits for every active transaction; a read txn of this very thread
		 * would deadlock it, so then the growth waits for a later begin. */
		mine = pthread_getspecific(idx->reader_key);
		if (!mine || mine->depth == 0) {
			pthread_rwlock_wrlock(&idx->map_lock);
			rc = 0;
			if (atomic_load(&idx->grow_needed)) {
				rc = idx_grow(idx);
				if (!rc)
					atomic_store(&idx->grow_needed, false);
			}
			pthread_rwlock_unlock(&idx->map_lock);
			if (rc)
				return rc;
		}
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->idx = idx;
	t->write = true;
	pthread_rwlock_rdlock(&idx->map_lock);
	rc = mdb_txn_begin(idx->env, NULL, 0, &t->txn);
	if (rc) {
		pthread_rwlock_unlock(&idx->map_lock);
		free(t);
		return idx_err(NULL, rc, "begin write txn");
	}
	*out = t;
	return 0;
}

int idx_write_commit(struct idx_txn *t)
{
	struct idx *idx;
	int rc;

	if (!t)
		return -EINVAL;
	if (!t->write)
		return -EINVAL;
	idx = t->idx;
	if (t->map_full) { /* LMDB refuses to commit a txn that failed; the caller retries */
		mdb_txn_abort(t->txn);
		rc = -EAGAIN;
	} else if (t->faulted) {
		txn_abort(t);
		rc = -EIO;
	} else {
		rc = txn_commit(t);
		if (rc == IDX_FAULT) /* LMDB did not get to free it */
			txn_abort(t);
		rc = idx_err(t, rc, "commit");
	}
	pthread_rwlock_unlock(&idx->map_lock);
	free(t);
	return rc;
}

void idx_write_abort(struct idx_txn *t)
{
	if (!t)
		return;
	if (!t->write) {
		idx_read_end(t);
		return;
	}
	txn_abort(t);
	pthread_rwlock_unlock(&t->idx->map_lock);
	free(t);
}

/* ---- meta ---- */

static int meta_key_len(const char *key, size_t *len)
{
	*len = strlen(key);
	return (*len == 0 || *len > 255) ? -EINVAL : 0;
}

int idx_meta_get_u64(struct idx_txn *t, const char *key, uint64_t *out)
{
	MDB_val v;
	size_t klen;
	int rc = meta_key_len(key, &klen);

	if (!rc)
		rc = db_get(t, DB_META, key, klen, &v);
	if (rc)
		return rc;
	if (v.mv_size != 8)
		return value_corrupt(DB_META, v.mv_size, 8);
	*out = le64_get(v.mv_data);
	return 0;
}

int idx_meta_put_u64(struct idx_txn *t, const char *key, uint64_t value)
{
	uint8_t v[8];
	size_t klen;
	int rc = meta_key_len(key, &klen);

	if (rc)
		return rc;
	le64_put(v, value);
	return db_put(t, DB_META, key, klen, v, sizeof(v));
}

/* *len in: capacity of buf; out: the value's length. -ERANGE when buf is too small. */
int idx_meta_get(struct idx_txn *t, const char *key, void *buf, size_t *len)
{
	MDB_val v;
	size_t klen, cap = *len;
	int rc = meta_key_len(key, &klen);

	if (!rc)
		rc = db_get(t, DB_META, key, klen, &v);
	if (rc)
		return rc;
	*len = v.mv_size;
	if (v.mv_size > cap)
		return -ERANGE;
	memcpy(buf, v.mv_data, v.mv_size);
	return 0;
}

int idx_meta_put(struct idx_txn *t, const char *key, const void *value, size_t len)
{
	size_t klen;
	int rc = meta_key_len(key, &klen);

	if (rc)
		return rc;
	return db_put(t, DB_META, key, klen, value, len);
}

uint64_t idx_format_version(struct idx *idx)
{
	return atomic_load(&idx->format_version);
}

int idx_format_raise(struct idx_txn *t, uint64_t version)
{
	uint64_t v = 0;
	int rc;

	if (version > IDX_FORMAT_VERSION)
		return -EINVAL;
	rc = idx_meta_get_u64(t, "format_version", &v);
	if (rc || v >= version)
		return rc;
	rc = idx_meta_put_u64(t, "format_version", version);
	/* Set before the commit: a stale higher value only skips a redundant raise later,
	 * and the raise is repeated in the transaction of every unwrapped file. */
	if (!rc)
		atomic_store(&t->idx->format_version, version);
	return rc;
}

int idx_ino_alloc(struct idx_txn *t, uint64_t *ino)
{
	uint64_t next;
	int rc = idx_meta_get_u64(t, "next_ino", &next);

	if (rc)
		return rc;
	rc = idx_meta_put_u64(t, "next_ino", next + 1);
	if (rc)
		return rc;
	*ino = next;
	return 0;
}

/* ---- inodes, orphans ---- */

int idx_inode_get(struct idx_txn *t, uint64_t ino, struct idx_inode *out)
{
	uint8_t k[8];
	MDB_val v;
	int rc;

	be64_put(k, ino);
	rc = db_get(t, DB_INODES, k, sizeof(k), &v);
	if (rc)
		return rc;
	if (v.mv_size != INODE_VALUE_LEN)
		return value_corrupt(DB_INODES, v.mv_size, INODE_VALUE_LEN);
	inode_decode(v.mv_data, ino, out);
	return 0;
}

int idx_inode_put(struct idx_txn *t, const struct idx_inode *in)
{
	uint8_t k[8], v[INODE_VALUE_LEN];

	be64_put(k, in->ino);
	inode_encode(v, in);
	return db_put(t, DB_INODES, k, sizeof(k), v, sizeof(v));
}

int idx_inode_del(struct idx_txn *t, uint64_t ino)
{
	uint8_t k[8];

	be64_put(k, ino);
	return db_del(t, DB_INODES, k, sizeof(k));
}

int idx_orphan_add(struct idx_txn *t, uint64_t ino)
{
	uint8_t k[8];

	be64_put(k, ino);
	return db_put(t, DB_ORPHANS, k, sizeof(k), "", 0);
}

int idx_orphan_del(struct idx_txn *t, uint64_t ino)
{
	uint8_t k[8];

	be64_put(k, ino);
	return db_del(t, DB_ORPHANS, k, sizeof(k));
}

typedef int (*key_cb)(void *arg, const MDB_val *k, const MDB_val *v);
enum { WALK_PREFIX = 1, WALK_DELETE = 2 };
static int key_walk(struct idx_txn *t, enum idx_db db, const uint8_t *start, size_t startlen,
                    unsigned how, key_cb cb, void *arg);

struct orphan_walk {
	idx_ino_cb cb;
	void *arg;
};

static int orphan_step(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct orphan_walk *w = arg;

	(void)v;
	if (k->mv_size != 8)
		return 0;
	return w->cb(w->arg, be64_get(k->mv_data));
}

int idx_orphan_each(struct idx_txn *t, idx_ino_cb cb, void *arg)
{
	struct orphan_walk w = {cb, arg};

	return key_walk(t, DB_ORPHANS, NULL, 0, 0, orphan_step, &w);
}

/* ---- dirents ---- */

static int dirent_key(uint8_t *k, uint64_t parent, const char *name, size_t namelen)
{
	if (namelen == 0 || namelen > IDX_NAME_MAX || memchr(name, '\0', namelen))
		return namelen > IDX_NAME_MAX ? -ENAMETOOLONG : -EINVAL;
	be64_put(k, parent);
	memcpy(k + 8, name, namelen);
	return 0;
}

int idx_dirent_get(struct idx_txn *t, uint64_t parent, const char *name, size_t namelen,
                   uint64_t *ino, uint8_t *dtype)
{
	uint8_t k[8 + IDX_NAME_MAX];
	MDB_val v;
	int rc = dirent_key(k, parent, name, namelen);

	if (!rc)
		rc = db_get(t, DB_DIRENTS, k, 8 + namelen, &v);
	if (rc)
		return rc;
	if (v.mv_size != DIRENT_VALUE_LEN)
		return value_corrupt(DB_DIRENTS, v.mv_size, DIRENT_VALUE_LEN);
	if (ino)
		*ino = le64_get(VAL_AT((const uint8_t *)v.mv_data, dirent_value, ino));
	if (dtype)
		*dtype = *VAL_AT((const uint8_t *)v.mv_data, dirent_value, dtype);
	return 0;
}

int idx_dirent_put(struct idx_txn *t, uint64_t parent, const char *name, size_t namelen,
                   uint64_t ino, uint8_t dtype)
{
	uint8_t k[8 + IDX_NAME_MAX], v[DIRENT_VALUE_LEN];
	int rc = dirent_key(k, parent, name, namelen);

	if (rc)
		return rc;
	le64_put(VAL_AT(v, dirent_value, ino), ino);
	*VAL_AT(v, dirent_value, dtype) = dtype;
	return db_put(t, DB_DIRENTS, k, 8 + namelen, v, sizeof(v));
}

int idx_dirent_del(struct idx_txn *t, uint64_t parent, const char *name, size_t namelen)
{
	uint8_t k[8 + IDX_NAME_MAX];
	int rc = dirent_key(k, parent, name, namelen);

	if (rc)
		return rc;
	return db_del(t, DB_DIRENTS, k, 8 + namelen);
}

/* After a fault in a write transaction its cursor list is not trusted (see txn_abort): the
 * cursor stays with the transaction that is never ended. */
static void cursor_close(struct idx_txn *t, MDB_cursor *c)
{
	if (!(t->faulted && t->write))
		mdb_cursor_close(c);
}

static int cursor_get(struct idx_txn *t, enum idx_db db, MDB_cursor *c, MDB_val *k, MDB_val *v,
                      MDB_cursor_op cursor_op)
{
	struct lmdb_op op = {
	    .call = CALL_CURSOR_GET, .cursor = c, .key = k, .val = v, .cursor_op = cursor_op};

	return guarded(t, db_names[db], &op);
}

/* Walks `db` in key order from `start` (from the first key when `start` is NULL). With
 * WALK_PREFIX, the walk stops at the first key whose leading 8 bytes (a big-endian parent or ino)
 * differ from start's. With WALK_DELETE, each key the callback (may be NULL) returned 0 for is
 * deleted. A non-zero callback return stops the walk and is returned. */
static int key_walk(struct idx_txn *t, enum idx_db db, const uint8_t *start, size_t startlen,
                    unsigned how, key_cb cb, void *arg)
{
	struct lmdb_op del = {.call = CALL_CURSOR_DEL};
	MDB_cursor *c;
	MDB_val k, v;
	int rc;
	MDB_cursor_op op = start ? MDB_SET_RANGE : MDB_FIRST;

	if ((how & WALK_DELETE) && !t->write)
		return -EROFS;
	rc = mdb_cursor_open(t->txn, t->idx->dbi[db], &c);
	if (rc)
		return idx_err(t, rc, db_names[db]);
	del.cursor = c;
	k.mv_size = startlen;
	k.mv_data = (void *)start;
	for (;;) {
		rc = cursor_get(t, db, c, &k, &v, op);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc) {
			rc = idx_err(t, rc, db_names[db]);
			break;
		}
		if ((how & WALK_PREFIX) && (k.mv_size < 8 || memcmp(k.mv_data, start, 8) != 0))
			break;
		rc = cb ? cb(arg, &k, &v) : 0;
		if (rc)
			break;
		op = MDB_NEXT;
		if (how & WALK_DELETE) {
			rc = idx_err(t, guarded(t, db_names[db], &del), db_names[db]);
			if (rc)
				break;
			/* Re-seek after each delete: the callback may write another database, and a
			 * fresh seek never depends on where LMDB leaves a cursor after a delete. */
			k.mv_size = startlen;
			k.mv_data = (void *)start;
			op = MDB_SET_RANGE;
		}
	}
	cursor_close(t, c);
	return rc;
}

static int prefix_walk(struct idx_txn *t, enum idx_db db, const uint8_t *start, size_t startlen,
                       key_cb cb, void *arg)
{
	return key_walk(t, db, start, startlen, WALK_PREFIX, cb, arg);
}

struct dirent_walk {
	idx_dirent_cb cb;
	void *arg;
};

static int dirent_step(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct dirent_walk *w = arg;
	char name[IDX_NAME_MAX + 1];
	size_t namelen = k->mv_size - 8;

	if (namelen == 0 || namelen > IDX_NAME_MAX)
		return value_corrupt(DB_DIRENTS, k->mv_size, 8 + 1);
	if (v->mv_size != DIRENT_VALUE_LEN)
		return value_corrupt(DB_DIRENTS, v->mv_size, DIRENT_VALUE_LEN);
	/* A copy, NUL-terminated, so the callback may keep using the txn (and LMDB may move
	 * pages) without the name changing under it. */
	memcpy(name, (const uint8_t *)k->mv_data + 8, namelen);
	name[namelen] = '\0';
	return w->cb(w->arg, name, namelen,
	             le64_get(VAL_AT((const uint8_t *)v->mv_data, dirent_value, ino)),
	             *VAL_AT((const uint8_t *)v->mv_data, dirent_value, dtype));
}

int idx_dirent_each(struct idx_txn *t, uint64_t parent, idx_dirent_cb cb, void *arg)
{
	struct dirent_walk w = {cb, arg};
	uint8_t k[8];

	be64_put(k, parent);
	return prefix_walk(t, DB_DIRENTS, k, sizeof(k), dirent_step, &w);
}

static int stop_on_first(void *arg, const MDB_val *k, const MDB_val *v)
{
	return -ENOTEMPTY;
}

int idx_dir_empty(struct idx_txn *t, uint64_t parent)
{
	uint8_t k[8];

	be64_put(k, parent);
	return prefix_walk(t, DB_DIRENTS, k, sizeof(k), stop_on_first, NULL);
}

/* ---- blocks and segment usage ---- */

static void block_key(uint8_t *k, uint64_t ino, uint64_t block)
{
	be64_put(k, ino);
	be64_put(k + 8, block);
}

static int usage_read(struct idx_txn *t, const uint8_t *k, struct idx_segment_usage *out)
{
	MDB_val v;
	int rc = db_get(t, DB_SEGMENTS, k, 8, &v);

	if (rc)
		return rc;
	if (v.mv_size != USAGE_VALUE_LEN)
		return value_corrupt(DB_SEGMENTS, v.mv_size, USAGE_VALUE_LEN);
	out->live_bytes = le64_get(VAL_AT((const uint8_t *)v.mv_data, usage_value, live_bytes));
	out->dead_bytes = le64_get(VAL_AT((const uint8_t *)v.mv_data, usage_value, dead_bytes));
	return 0;
}

/* Adds `live` bytes to a segment's live count, or (dead != 0) moves `dead` bytes from live to
 * dead. */
static int usage_update(struct idx_txn *t, uint64_t segment, uint64_t live, uint64_t dead)
{
	struct idx_segment_usage u = {0, 0};
	uint8_t k[8], v[USAGE_VALUE_LEN];
	int rc;

	be64_put(k, segment);
	rc = usage_read(t, k, &u);
	if (rc && rc != -ENOENT)
		return rc;
	u.live_bytes += live;
	if (dead) {
		if (u.live_bytes < dead) {
			fprintf(stderr,
			        "boafs: index: segment %016llx: %llu dead bytes exceed %llu live\n",
			        (unsigned long long)segment, (unsigned long long)dead,
			        (unsigned long long)u.live_bytes);
			u.live_bytes = 0;
		} else {
			u.live_bytes -= dead;
		}
		u.dead_bytes += dead;
	}
	le64_put(VAL_AT(v, usage_value, live_bytes), u.live_bytes);
	le64_put(VAL_AT(v, usage_value, dead_bytes), u.dead_bytes);
	return db_put(t, DB_SEGMENTS, k, sizeof(k), v, sizeof(v));
}

int idx_segment_get(struct idx_txn *t, uint64_t segment, struct idx_segment_usage *out)
{
	uint8_t k[8];

	be64_put(k, segment);
	return usage_read(t, k, out);
}

int idx_extent_get(struct idx_txn *t, uint64_t ino, uint64_t block, struct extent *out)
{
	uint8_t k[16];
	MDB_val v;
	int rc;

	block_key(k, ino, block);
	rc = db_get(t, DB_BLOCKS, k, sizeof(k), &v);
	if (rc)
		return rc;
	if (v.mv_size != EXTENT_VALUE_LEN)
		return value_corrupt(DB_BLOCKS, v.mv_size, EXTENT_VALUE_LEN);
	extent_decode(v.mv_data, out);
	return 0;
}

int idx_extent_put(struct idx_txn *t, uint64_t ino, uint64_t block, const struct extent *e,
                   int64_t *stored_delta)
{
	uint8_t k[16], v[EXTENT_VALUE_LEN];
	struct extent old;
	int64_t delta = e->record_len;
	int rc;

	if (stored_delta)
		*stored_delta = 0;
	rc = idx_extent_get(t, ino, block, &old);
	if (rc && rc != -ENOENT)
		return rc;
	if (!rc && old.segment == e->segment && old.offset == e->offset) {
		delta = 0; /* the same record again: nothing moves */
	} else {
		if (!rc) {
			rc = usage_update(t, old.segment, 0, old.record_len);
			if (rc)
				return rc;
			delta -= old.record_len;
		}
		rc = usage_update(t, e->segment, e->record_len, 0);
		if (rc)
			return rc;
	}
	block_key(k, ino, block);
	extent_encode(v, e);
	rc = db_put(t, DB_BLOCKS, k, sizeof(k), v, sizeof(v));
	if (!rc && stored_delta)
		*stored_delta = delta;
	return rc;
}

int idx_extent_del(struct idx_txn *t, uint64_t ino, uint64_t block, int64_t *stored_delta)
{
	uint8_t k[16];
	struct extent old;
	int rc;

	if (stored_delta)
		*stored_delta = 0;
	rc = idx_extent_get(t, ino, block, &old);
	if (rc)
		return rc;
	rc = usage_update(t, old.segment, 0, old.record_len);
	if (rc)
		return rc;
	block_key(k, ino, block);
	rc = db_del(t, DB_BLOCKS, k, sizeof(k));
	if (!rc && stored_delta)
		*stored_delta = -(int64_t)old.record_len;
	return rc;
}

struct extent_drop {
	struct idx_txn *t;
	int64_t delta;
};

static int extent_drop_step(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct extent_drop *d = arg;
	struct extent old;
	int rc;

	if (k->mv_size != 16)
		return value_corrupt(DB_BLOCKS, k->mv_size, 16); /* a key of another shape */
	if (v->mv_size != EXTENT_VALUE_LEN)
		return value_corrupt(DB_BLOCKS, v->mv_size, EXTENT_VALUE_LEN);
	extent_decode(v->mv_data, &old);
	rc = usage_update(d->t, old.segment, 0, old.record_len);
	if (!rc)
		d->delta -= old.record_len;
	return rc;
}

int idx_extent_del_from(struct idx_txn *t, uint64_t ino, uint64_t first, int64_t *stored_delta)
{
	uint8_t start[16];
	struct extent_drop d = {t, 0};
	int rc;

	block_key(start, ino, first);
	rc = key_walk(t, DB_BLOCKS, start, sizeof(start), WALK_PREFIX | WALK_DELETE,
	              extent_drop_step, &d);
	if (stored_delta)
		*stored_delta = d.delta;
	return rc;
}

struct extent_walk {
	uint64_t last;
	bool all;
	bool past_last;
	idx_extent_cb cb;
	void *arg;
};

static int extent_step(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct extent_walk *w = arg;
	struct extent e;
	uint64_t block;

	if (k->mv_size != 16)
		return value_corrupt(DB_BLOCKS, k->mv_size, 16);
	if (v->mv_size != EXTENT_VALUE_LEN)
		return value_corrupt(DB_BLOCKS, v->mv_size, EXTENT_VALUE_LEN);
	block = be64_get((const uint8_t *)k->mv_data + 8);
	if (!w->all && block > w->last) {
		w->past_last = true; /* stop; the caller turns this back into 0 */
		return 1;
	}
	extent_decode(v->mv_data, &e);
	return w->cb(w->arg, be64_get(k->mv_data), block, &e);
}

int idx_extent_each(struct idx_txn *t, uint64_t ino, uint64_t first, uint64_t last,
                    idx_extent_cb cb, void *arg)
{
	struct extent_walk w = {.last = last, .cb = cb, .arg = arg};
	uint8_t start[16];
	int rc;

	if (first > last)
		return 0;
	block_key(start, ino, first);
	rc = prefix_walk(t, DB_BLOCKS, start, sizeof(start), extent_step, &w);
	return w.past_last ? 0 : rc;
}

int idx_extent_each_all(struct idx_txn *t, idx_extent_cb cb, void *arg)
{
	return idx_extent_each_from(t, 0, 0, cb, arg);
}

int idx_extent_each_from(struct idx_txn *t, uint64_t ino, uint64_t block, idx_extent_cb cb,
                         void *arg)
{
	struct extent_walk w = {.all = true, .cb = cb, .arg = arg};
	uint8_t start[16];

	be64_put(start, ino);
	be64_put(start + 8, block);
	return key_walk(t, DB_BLOCKS, start, sizeof(start), 0, extent_step, &w);
}

/* ---- xattrs ---- */

static int xattr_key(uint8_t *k, uint64_t ino, const char *name, size_t *klen)
{
	size_t n = strlen(name);

	if (n == 0)
		return -EINVAL;
	if (n > IDX_NAME_MAX)
		return -ERANGE;
	be64_put(k, ino);
	memcpy(k + 8, name, n);
	*klen = 8 + n;
	return 0;
}

/* *len in: capacity of buf (0: only report the length); out: the value's length. */
int idx_xattr_get(struct idx_txn *t, uint64_t ino, const char *name, void *buf, size_t *len)
{
	uint8_t k[8 + IDX_NAME_MAX];
	size_t klen, cap = *len;
	MDB_val v;
	int rc = xattr_key(k, ino, name, &klen);

	if (!rc)
		rc = db_get(t, DB_XATTRS, k, klen, &v);
	if (rc)
		return rc == -ENOENT ? -ENODATA : rc;
	*len = v.mv_size;
	if (cap == 0)
		return 0;
	if (v.mv_size > cap)
		return -ERANGE;
	memcpy(buf, v.mv_data, v.mv_size);
	return 0;
}

int idx_xattr_put(struct idx_txn *t, uint64_t ino, const char *name, const void *value, size_t len)
{
	uint8_t k[8 + IDX_NAME_MAX];
	size_t klen;
	int rc = xattr_key(k, ino, name, &klen);

	if (rc)
		return rc;
	if (len > IDX_XATTR_VALUE_MAX)
		return -E2BIG;
	return db_put(t, DB_XATTRS, k, klen, len ? value : "", len);
}

int idx_xattr_del(struct idx_txn *t, uint64_t ino, const char *name)
{
	uint8_t k[8 + IDX_NAME_MAX];
	size_t klen;
	int rc = xattr_key(k, ino, name, &klen);

	if (!rc)
		rc = db_del(t, DB_XATTRS, k, klen);
	return rc == -ENOENT ? -ENODATA : rc;
}

struct xattr_list {
	char *buf;
	size_t cap, len;
};

static int xattr_list_step(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct xattr_list *l = arg;
	size_t n = k->mv_size - 8;

	if (l->cap && l->len + n + 1 <= l->cap) {
		memcpy(l->buf + l->len, (const uint8_t *)k->mv_data + 8, n);
		l->buf[l->len + n] = '\0';
	}
	l->len += n + 1;
	return 0;
}

/* -ERANGE when cap is non-zero but too small; *len is the full length either way. */
int idx_xattr_list(struct idx_txn *t, uint64_t ino, char *buf, size_t cap, size_t *len)
{
	struct xattr_list l = {buf, cap, 0};
	uint8_t k[8];
	int rc;

	be64_put(k, ino);
	rc = prefix_walk(t, DB_XATTRS, k, sizeof(k), xattr_list_step, &l);
	if (rc)
		return rc;
	*len = l.len;
	return (cap && l.len > cap) ? -ERANGE : 0;
}

int idx_xattr_del_all(struct idx_txn *t, uint64_t ino)
{
	uint8_t start[8];

	be64_put(start, ino);
	return key_walk(t, DB_XATTRS, start, sizeof(start), WALK_PREFIX | WALK_DELETE, NULL, NULL);
}

/* ---- models ---- */

int idx_model_put(struct idx_txn *t, uint32_t model_id, const void *bytes, size_t len)
{
	uint8_t k[4];

	be32_put(k, model_id);
	return db_put(t, DB_MODELS, k, sizeof(k), len ? bytes : "", len);
}

int idx_model_get(struct idx_txn *t, uint32_t model_id, const void **bytes, size_t *len)
{
	uint8_t k[4];
	MDB_val v;
	int rc;

	be32_put(k, model_id);
	rc = db_get(t, DB_MODELS, k, sizeof(k), &v);
	if (rc)
		return rc;
	*bytes = v.mv_data;
	*len = v.mv_size;
	return 0;
}

/* ---- whole-database walks (fsck, gc, stats) ---- */

static int db_walk(struct idx_txn *t, enum idx_db db, key_cb cb, void *arg)
{
	return key_walk(t, db, NULL, 0, 0, cb, arg);
}

struct inode_walk {
	idx_inode_cb cb;
	void *arg;
};

static int inode_step(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct inode_walk *w = arg;
	struct idx_inode in;

	if (k->mv_size != 8 || v->mv_size != INODE_VALUE_LEN)
		return value_corrupt(DB_INODES, v->mv_size, INODE_VALUE_LEN);
	inode_decode(v->mv_data, be64_get(k->mv_data), &in);
	return w->cb(w->arg, &in);
}

int idx_inode_each(struct idx_txn *t, idx_inode_cb cb, void *arg)
{
	struct inode_walk w = {cb, arg};

	return db_walk(t, DB_INODES, inode_step, &w);
}

struct dirent_all_walk {
	idx_dirent_all_cb cb;
	void *arg;
};

static int dirent_all_step(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct dirent_all_walk *w = arg;
	const uint8_t *key = k->mv_data, *val = v->mv_data;
	char name[IDX_NAME_MAX + 1];
	size_t namelen;

	if (k->mv_size <= 8 || k->mv_size > 8 + IDX_NAME_MAX || v->mv_size != 9)
		return value_corrupt(DB_DIRENTS, v->mv_size, 9);
	namelen = k->mv_size - 8;
	memcpy(name, key + 8, namelen);
	name[namelen] = '\0';
	return w->cb(w->arg, be64_get(key), name, namelen, le64_get(val), val[8]);
}

int idx_dirent_each_all(struct idx_txn *t, idx_dirent_all_cb cb, void *arg)
{
	struct dirent_all_walk w = {cb, arg};

	return db_walk(t, DB_DIRENTS, dirent_all_step, &w);
}

struct segment_walk {
	idx_segment_cb cb;
	void *arg;
};

static int segment_step(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct segment_walk *w = arg;
	struct idx_segment_usage u;

	if (k->mv_size != 8 || v->mv_size != USAGE_VALUE_LEN)
		return value_corrupt(DB_SEGMENTS, v->mv_size, USAGE_VALUE_LEN);
	u.live_bytes = le64_get(VAL_AT((const uint8_t *)v->mv_data, usage_value, live_bytes));
	u.dead_bytes = le64_get(VAL_AT((const uint8_t *)v->mv_data, usage_value, dead_bytes));
	return w->cb(w->arg, be64_get(k->mv_data), &u);
}

int idx_segment_each(struct idx_txn *t, idx_segment_cb cb, void *arg)
{
	struct segment_walk w = {cb, arg};

	return db_walk(t, DB_SEGMENTS, segment_step, &w);
}

int idx_segment_put(struct idx_txn *t, uint64_t segment, const struct idx_segment_usage *u)
{
	uint8_t k[8], v[USAGE_VALUE_LEN];

	be64_put(k, segment);
	le64_put(VAL_AT(v, usage_value, live_bytes), u->live_bytes);
	le64_put(VAL_AT(v, usage_value, dead_bytes), u->dead_bytes);
	return db_put(t, DB_SEGMENTS, k, sizeof(k), v, sizeof(v));
}

int idx_segment_del(struct idx_txn *t, uint64_t segment)
{
	uint8_t k[8];

	be64_put(k, segment);
	return db_del(t, DB_SEGMENTS, k, sizeof(k));
}

struct model_walk {
	idx_model_cb cb;
	void *arg;
};

static int model_step(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct model_walk *w = arg;

	if (k->mv_size != 4)
		return value_corrupt(DB_MODELS, k->mv_size, 4);
	return w->cb(w->arg, be32_get(k->mv_data), v->mv_data, v->mv_size);
}

int idx_model_each(struct idx_txn *t, idx_model_cb cb, void *arg)
{
	struct model_walk w = {cb, arg};

	return db_walk(t, DB_MODELS, model_step, &w);
}

/* ---- unwrap: ino -> piece map of an unwrapped file (fs_unwrap.c owns the value) ---- */

int idx_unwrap_get(struct idx_txn *t, uint64_t ino, const void **value, size_t *len)
{
	uint8_t k[8];
	MDB_val v;
	int rc;

	be64_put(k, ino);
	rc = db_get(t, DB_UNWRAP, k, sizeof(k), &v);
	if (rc)
		return rc;
	*value = v.mv_data;
	*len = v.mv_size;
	return 0;
}

int idx_unwrap_put(struct idx_txn *t, uint64_t ino, const void *value, size_t len)
{
	uint8_t k[8];

	be64_put(k, ino);
	return db_put(t, DB_UNWRAP, k, sizeof(k), value, len);
}

int idx_unwrap_del(struct idx_txn *t, uint64_t ino)
{
	uint8_t k[8];

	be64_put(k, ino);
	return db_del(t, DB_UNWRAP, k, sizeof(k));
}

struct unwrap_walk {
	idx_unwrap_cb cb;
	void *arg;
};

static int unwrap_step(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct unwrap_walk *w = arg;

	if (k->mv_size != 8)
		return value_corrupt(DB_UNWRAP, k->mv_size, 8);
	return w->cb(w->arg, be64_get(k->mv_data), v->mv_data, v->mv_size);
}

int idx_unwrap_each(struct idx_txn *t, idx_unwrap_cb cb, void *arg)
{
	struct unwrap_walk w = {cb, arg};

	return db_walk(t, DB_UNWRAP, unwrap_step, &w);
}
