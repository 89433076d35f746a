/* fs_admin — the archive commands' work: stats tally, model list, fsck walk and repair, gc
 * (fs_admin.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "boa.h"
#include "boa_model.h"
#include "codec.h"
#include "fs.h"
#include "fs_admin.h"
#include "fs_archive.h"
#include "fs_block.h"
#include "fs_gc.h"
#include "fs_unwrap.h"

_Static_assert(FS_ADMIN_CODECS == FS_CODECS, "fs_admin.h and fs.h count the same codecs");

int fs_admin_open(const char *archive, int writable, struct fs **out)
{
	struct fs_options opt = {0};

	opt.block_size = FS_BLOCK_SIZE_DEFAULT;
	opt.zstd_level = FS_ZSTD_LEVEL_DEFAULT;
	opt.cache_size = 0;
	opt.recompress = FS_RECOMPRESS_OFF;
	opt.read_only = !writable;
	opt.admin = writable ? FS_ADMIN_WRITE : FS_ADMIN_READ;
	return fs_open(archive, &opt, out);
}

int fs_admin_close(struct fs *fs)
{
	return fs_close(fs);
}

const char *fs_admin_archive(const struct fs *fs)
{
	return fs->archive;
}

/* ---- stats ---- */

struct codec_tally {
	uint64_t blocks, logical, stored, pending, pending_logical;
};

struct tally {
	struct codec_tally codec[FS_CODECS];
	uint64_t files, dirs, logical_size;
};

static int tally_extent(void *arg, uint64_t ino, uint64_t block, const struct extent *e)
{
	struct tally *t = arg;
	struct codec_tally *c;

	/* The stream blocks of unwrapped files are counted with those files (fs_unwrap_totals). */
	if (e->codec >= FS_CODECS || block >= FS_UNWRAP_STREAM_BLOCK0)
		return 0;
	c = &t->codec[e->codec];
	c->blocks++;
	c->logical += e->raw_len;
	c->stored += e->record_len;
	if (codec_is_fast(e->codec) && !(e->flags & EXTENT_BOA_TRIED))
		c->pending++, c->pending_logical += e->raw_len;
	return 0;
}

static int tally_inode(void *arg, const struct idx_inode *in)
{
	struct tally *t = arg;

	if (S_ISDIR(in->mode))
		t->dirs++;
	else if (S_ISREG(in->mode)) {
		t->files++;
		t->logical_size += in->size;
	}
	return 0;
}

/* The per-codec figures of `st`: the tallied blocks, and the daemon's CPU counters (those of
 * the whole archive, also for a subtree). */
static void codec_figures(const struct fs *fs, const struct tally *tl, struct fs_admin_stats *st)
{
	for (int c = 0; c < FS_CODECS; c++) {
		struct fs_admin_codec *o = &st->codec[c];

		o->name = codec_name((uint8_t)c);
		o->blocks = tl->codec[c].blocks;
		o->logical = tl->codec[c].logical;
		o->stored = tl->codec[c].stored;
		o->pending = tl->codec[c].pending;
		o->pending_logical = tl->codec[c].pending_logical;
		o->cpu_encode_s = fs->cpu_ns[c][FS_CPU_ENCODE] / 1e9;
		o->cpu_decode_s = fs->cpu_ns[c][FS_CPU_DECODE] / 1e9;
		o->encode_bytes = (double)fs->cpu_bytes[c][FS_CPU_ENCODE];
		o->decode_bytes = (double)fs->cpu_bytes[c][FS_CPU_DECODE];
	}
}

/* The unwrapped files' figures of `st`: of the given inodes, or (inos NULL) of the archive. */
static int unwrapped_figures(struct fs *fs, const uint64_t *inos, size_t n,
                             struct fs_admin_stats *st)
{
	struct fs_unwrap_totals u;
	int rc = inos ? fs_unwrap_totals_of(fs, inos, n, &u) : fs_unwrap_totals(fs, &u);

	if (rc)
		return rc;
	st->unwrapped.files = u.files;
	st->unwrapped.logical = u.logical_bytes;
	st->unwrapped.unwrapped = u.unwrapped_bytes;
	st->unwrapped.stored = u.stored_bytes;
	st->unwrapped.stored_before = u.before_bytes;
	st->unwrapped.cpu_s = u.cpu_ns / 1e9;
	return 0;
}

int fs_admin_stats(struct fs *fs, struct fs_admin_stats *st)
{
	struct tally tl;
	struct idx_txn *t = NULL;
	int rc;

	memset(&tl, 0, sizeof(tl));
	memset(st, 0, sizeof(*st));
	rc = idx_read_begin(fs->idx, &t);
	if (!rc)
		rc = idx_extent_each_all(t, tally_extent, &tl);
	if (!rc)
		rc = idx_inode_each(t, tally_inode, &tl);
	if (!rc) {
		idx_meta_get_u64(t, "recompress.before_bytes", &st->recompress_before);
		idx_meta_get_u64(t, "recompress.after_bytes", &st->recompress_after);
	}
	idx_read_end(t);
	if (!rc)
		rc = unwrapped_figures(fs, NULL, 0, st);
	if (rc)
		return rc;
	st->files = tl.files;
	st->dirs = tl.dirs;
	st->file_bytes = tl.logical_size;
	codec_figures(fs, &tl, st);
	return 0;
}

int fs_admin_stats_inodes(struct fs *fs, const uint64_t *inos, size_t n, struct fs_admin_stats *st)
{
	struct tally tl;
	struct idx_txn *t = NULL;
	int rc;

	memset(&tl, 0, sizeof(tl));
	memset(st, 0, sizeof(*st));
	rc = idx_read_begin(fs->idx, &t);
	for (size_t i = 0; i < n && !rc; i++)
		rc = idx_extent_each(t, inos[i], 0, UINT64_MAX, tally_extent, &tl);
	idx_read_end(t);
	/* Unwrapped files have no extents of their logical blocks: counted as a whole archive's
	 * are, on their own line (a subtree's logical and stored bytes include them). */
	if (!rc)
		rc = unwrapped_figures(fs, inos, n, st);
	if (rc)
		return rc;
	codec_figures(fs, &tl, st);
	return 0;
}

int fs_admin_space(struct fs *fs, struct fs_admin_space *sp)
{
	uint64_t *ids = NULL;
	size_t n = 0;
	char path[4096];
	struct stat st;
	int rc;

	memset(sp, 0, sizeof(*sp));
	rc = seg_list(fs->seg, &ids, &n);
	for (size_t i = 0; i < n && !rc; i++) {
		struct idx_segment_usage u = {0, 0};
		struct idx_txn *t = NULL;
		uint64_t size = 0;

		if (seg_size(fs->seg, ids[i], &size) == 0)
			sp->segment_bytes += size;
		rc = idx_read_begin(fs->idx, &t);
		if (rc)
			break;
		if (idx_segment_get(t, ids[i], &u) == 0) {
			sp->live_bytes += u.live_bytes;
			sp->dead_bytes += u.dead_bytes;
		}
		idx_read_end(t);
	}
	sp->segments = n;
	free(ids);
	snprintf(path, sizeof(path), "%s/index/data.mdb", fs->archive);
	if (!rc && stat(path, &st) == 0)
		sp->index_bytes = (uint64_t)st.st_blocks * 512;
	return rc;
}

/* ---- models ---- */

struct model_use {
	uint32_t id;
	uint64_t blocks;
};

struct model_list {
	struct model_use *v;
	size_t n, cap;
};

static struct model_use *model_use_find(struct model_list *l, uint32_t id, int add)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].id == id)
			return &l->v[i];
	if (!add)
		return NULL;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct model_use *bigger = realloc(l->v, cap * sizeof(*bigger));

		if (!bigger)
			return NULL;
		l->v = bigger;
		l->cap = cap;
	}
	l->v[l->n] = (struct model_use){id, 0};
	return &l->v[l->n++];
}

static int count_model_use(void *arg, uint64_t ino, uint64_t block, const struct extent *e)
{
	struct model_use *u;

	if (!codec_uses_model(e->codec) || !e->model_id)
		return 0;
	u = model_use_find(arg, e->model_id, 1);
	if (!u)
		return -ENOMEM;
	u->blocks++;
	return 0;
}

struct model_walk {
	struct model_list *uses;
	uint64_t current;
	int (*fn)(void *arg, const struct fs_admin_model *m);
	void *arg;
};

static int model_visit(void *arg, uint32_t id, const void *bytes, size_t len)
{
	struct model_walk *w = arg;
	struct model_use *u = model_use_find(w->uses, id, 0);
	struct fs_admin_model m = {.id = id, .bytes = len, .current = id == w->current};
	struct boa_model *bm = NULL;

	m.blocks = u ? u->blocks : 0;
	if (boa_model_load(bytes, len, &bm, m.error, sizeof(m.error)) == 0) {
		m.loads = 1;
		boa_model_shape(bm, &m.dim, &m.layers, &m.params);
		boa_model_free(bm);
	}
	return w->fn(w->arg, &m);
}

int fs_admin_models(struct fs *fs, int (*fn)(void *arg, const struct fs_admin_model *m), void *arg)
{
	struct model_list uses = {0};
	struct model_walk w = {&uses, 0, fn, arg};
	struct idx_txn *t = NULL;
	int rc;

	rc = idx_read_begin(fs->idx, &t);
	if (!rc)
		rc = idx_extent_each_all(t, count_model_use, &uses);
	if (!rc) {
		idx_meta_get_u64(t, "current_model", &w.current);
		rc = idx_model_each(t, model_visit, &w);
	}
	idx_read_end(t);
	for (size_t i = 0; i < uses.n && !rc; i++) {
		const void *bytes;
		size_t len;

		rc = idx_read_begin(fs->idx, &t);
		if (rc)
			break;
		if (idx_model_get(t, uses.v[i].id, &bytes, &len) == -ENOENT) {
			struct fs_admin_model m = {
			    .id = uses.v[i].id, .blocks = uses.v[i].blocks, .missing = 1};

			rc = fn(arg, &m);
		}
		idx_read_end(t);
	}
	free(uses.v);
	return rc;
}

/* ---- fsck ---- */

struct name_link {
	uint64_t parent;
	char *name;
};

struct fsck {
	struct fs *fs;
	FILE *report;
	int repair;
	int index_damaged; /* a walk of the index met a damaged page */
	uint64_t problems, extents_checked, bytes_verified;
	uint64_t unrepaired; /* problems that --repair leaves as they are (unwrapped files) */
	/* the run of logical blocks of one unwrapped file that do not regenerate, being reported */
	struct {
		uint64_t ino, first, last;
		int err, open;
	} uw;
	/* ino -> first (parent, name), for naming files in reports; and link counts */
	uint64_t max_ino;
	struct name_link *names;
	uint32_t *links, *subdirs;
	uint8_t *exists, *is_dir;
	uint64_t *stored;     /* per ino: sum of record_len of its extents */
	uint64_t *stored_bad; /* ... of those that are damaged */
	/* damaged extents to drop on repair */
	struct {
		uint64_t ino, block;
	} * bad;
	size_t nbad, badcap;
	uint64_t *seg_ids, *seg_live;
	size_t nsegs;
	uint8_t *payload, *raw;
};

static void fsck_path(struct fsck *f, uint64_t ino, char *buf, size_t cap)
{
	size_t len = 0;
	int depth = 0, full = 0;

	buf[0] = '\0';
	if (ino == IDX_ROOT_INO) {
		snprintf(buf, cap, "/");
		return;
	}
	/* Names are prepended from the file up; a path too long for buf keeps its deepest names. */
	while (ino != IDX_ROOT_INO && ino <= f->max_ino && f->names[ino].name && depth++ < 256) {
		const char *name = f->names[ino].name;
		size_t add = strlen(name) + 1;

		if (!full && len + add < cap) {
			memmove(buf + add, buf, len + 1);
			buf[0] = '/';
			memcpy(buf + 1, name, add - 1);
			len += add;
		} else {
			full = 1;
		}
		ino = f->names[ino].parent;
	}
	if (ino != IDX_ROOT_INO)
		snprintf(buf, cap, "(unreachable)");
}

static void fsck_report(struct fsck *f, uint64_t ino, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fsck_report(struct fsck *f, uint64_t ino, const char *fmt, ...)
{
	char path[4096], what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fsck_path(f, ino, path, sizeof(path));
	fprintf(f->report, "inode %llu %s: %s\n", (unsigned long long)ino, path, what);
	f->problems++;
}

static int fsck_max_ino(void *arg, const struct idx_inode *in)
{
	struct fsck *f = arg;

	if (in->ino > f->max_ino)
		f->max_ino = in->ino;
	return 0;
}

static int fsck_inode(void *arg, const struct idx_inode *in)
{
	struct fsck *f = arg;

	f->exists[in->ino] = 1;
	f->is_dir[in->ino] = S_ISDIR(in->mode);
	return 0;
}

static int fsck_dirent(void *arg, uint64_t parent, const char *name, size_t namelen, uint64_t ino,
                       uint8_t dtype)
{
	struct fsck *f = arg;

	if (ino > f->max_ino || !f->exists[ino]) {
		fprintf(f->report, "directory %llu entry '%s': points at missing inode %llu\n",
		        (unsigned long long)parent, name, (unsigned long long)ino);
		f->problems++;
		return 0;
	}
	f->links[ino]++;
	if (f->is_dir[ino] && parent <= f->max_ino)
		f->subdirs[parent]++;
	if (!f->names[ino].name) {
		f->names[ino].parent = parent;
		f->names[ino].name = strndup(name, namelen);
	}
	return 0;
}

static int fsck_add_bad(struct fsck *f, uint64_t ino, uint64_t block)
{
	if (f->nbad == f->badcap) {
		size_t cap = f->badcap ? f->badcap * 2 : 16;
		void *bigger = realloc(f->bad, cap * sizeof(*f->bad));

		if (!bigger)
			return -ENOMEM;
		f->bad = bigger;
		f->badcap = cap;
	}
	f->bad[f->nbad].ino = ino;
	f->bad[f->nbad].block = block;
	f->nbad++;
	return 0;
}

static void fsck_seg_live(struct fsck *f, uint64_t segment, uint64_t bytes)
{
	for (size_t i = 0; i < f->nsegs; i++) {
		if (f->seg_ids[i] == segment) {
			f->seg_live[i] += bytes;
			return;
		}
	}
}

static int fsck_extent(void *arg, uint64_t ino, uint64_t block, const struct extent *e)
{
	struct fsck *f = arg;
	int rc;

	f->extents_checked++;
	if (ino > f->max_ino || !f->exists[ino]) {
		fprintf(f->report, "inode %llu block %llu: extent of a missing inode\n",
		        (unsigned long long)ino, (unsigned long long)block);
		f->problems++;
		return fsck_add_bad(f, ino, block);
	}
	fsck_seg_live(f, e->segment, e->record_len);
	f->stored[ino] += e->record_len;
	if (e->raw_len > f->fs->opt.block_size ||
	    e->stored_len > boa_bound(f->fs->opt.block_size)) {
		fsck_report(f, ino, "block %llu: extent lengths out of range",
		            (unsigned long long)block);
		return fsck_add_bad(f, ino, block);
	}
	rc = seg_record_read(f->fs->seg, e, f->payload, e->stored_len);
	if (!rc)
		rc = fs_payload_decode(f->fs, ino, block, e, f->payload, f->raw);
	if (rc == -ENOMEM)
		return rc;
	if (rc && block >= FS_UNWRAP_STREAM_BLOCK0 && fs_unwrap_is_unwrapped(f->fs, ino) == 1) {
		/* Dropping it would not make the file read: its logical blocks are regenerated from
		 * it and proven by their checksums. Kept, so that the file's other blocks read. */
		fsck_report(f, ino,
		            "unwrapped file: stream block %llu: %s record in segment %016llx "
		            "offset %llu is damaged (not repairable: kept)",
		            (unsigned long long)(block - FS_UNWRAP_STREAM_BLOCK0),
		            codec_name(e->codec), (unsigned long long)e->segment,
		            (unsigned long long)e->offset);
		f->unrepaired++;
		return 0;
	}
	if (rc) {
		fsck_report(f, ino,
		            "block %llu: %s record in segment %016llx offset %llu is damaged",
		            (unsigned long long)block, codec_name(e->codec),
		            (unsigned long long)e->segment, (unsigned long long)e->offset);
		f->stored_bad[ino] += e->record_len; /* repair drops it */
		return fsck_add_bad(f, ino, block);
	}
	f->bytes_verified += e->raw_len;
	return 0;
}

struct fsck_inode_check {
	struct fsck *f;
	struct idx_inode *fix;
	size_t nfix, cap;
};

static int fsck_inode_counts(void *arg, const struct idx_inode *in)
{
	struct fsck_inode_check *c = arg;
	struct fsck *f = c->f;
	uint32_t want_links;
	struct idx_inode fixed = *in;
	int changed = 0;

	want_links = f->is_dir[in->ino] ? 2 + f->subdirs[in->ino] : f->links[in->ino];
	if (in->ino == IDX_ROOT_INO)
		want_links = 2 + f->subdirs[in->ino];
	if (in->nlink != want_links && !(in->nlink == 0 && f->links[in->ino] == 0)) {
		fsck_report(f, in->ino, "link count %u, but %u names refer to it", in->nlink,
		            want_links);
		fixed.nlink = want_links;
		changed = 1;
	}
	if (in->stored_bytes != f->stored[in->ino]) {
		fsck_report(f, in->ino, "stored bytes %llu, but its extents hold %llu",
		            (unsigned long long)in->stored_bytes,
		            (unsigned long long)f->stored[in->ino]);
		changed = 1;
	}
	if (f->stored_bad[in->ino])
		changed = 1; /* repair drops damaged extents: their bytes go too */
	fixed.stored_bytes = f->stored[in->ino] - f->stored_bad[in->ino];
	if (changed && c->nfix < c->cap)
		c->fix[c->nfix++] = fixed;
	return 0;
}

static int fsck_repair(struct fsck *f, struct fsck_inode_check *c)
{
	struct idx_txn *t = NULL;
	int rc;

	rc = idx_write_begin(f->fs->idx, &t);
	if (rc)
		return rc;
	for (size_t i = 0; i < f->nbad && !rc; i++) {
		struct extent e;

		rc = idx_extent_get(t, f->bad[i].ino, f->bad[i].block, &e);
		if (rc == -ENOENT) {
			rc = 0;
			continue;
		}
		if (!rc)
			rc = idx_extent_del(t, f->bad[i].ino, f->bad[i].block, NULL);
		if (rc)
			break;
		for (size_t s = 0; s < f->nsegs; s++)
			if (f->seg_ids[s] == e.segment && f->seg_live[s] >= e.record_len)
				f->seg_live[s] -= e.record_len;
		fprintf(f->report, "repaired: inode %llu block %llu dropped (reads as zeros)\n",
		        (unsigned long long)f->bad[i].ino, (unsigned long long)f->bad[i].block);
	}
	/* Usage as the remaining extents use it: all else in a segment file is dead. */
	for (size_t i = 0; i < f->nsegs && !rc; i++) {
		struct idx_segment_usage u = {f->seg_live[i], 0};
		uint64_t size = 0;

		seg_size(f->fs->seg, f->seg_ids[i], &size);
		u.dead_bytes = size > u.live_bytes ? size - u.live_bytes : 0;
		rc = idx_segment_put(t, f->seg_ids[i], &u);
	}
	for (size_t i = 0; i < c->nfix && !rc; i++)
		rc = idx_inode_put(t, &c->fix[i]);
	if (rc) {
		idx_write_abort(t);
		return rc;
	}
	rc = idx_write_commit(t);
	if (!rc)
		rc = idx_sync(f->fs->idx);
	return rc;
}

/* Reports the run of blocks of an unwrapped file that do not regenerate, one line. */
static void fsck_unwrap_flush(struct fsck *f)
{
	char blocks[64];

	if (!f->uw.open)
		return;
	if (f->uw.first == f->uw.last)
		snprintf(blocks, sizeof(blocks), "block %llu", (unsigned long long)f->uw.first);
	else
		snprintf(blocks, sizeof(blocks), "blocks %llu-%llu",
		         (unsigned long long)f->uw.first, (unsigned long long)f->uw.last);
	fsck_report(f, f->uw.ino,
	            "unwrapped file: %s (of %u bytes) %s not regenerate (%s): a read gives EIO; "
	            "not repairable, the file is left as it is",
	            blocks, f->fs->opt.block_size, f->uw.first == f->uw.last ? "does" : "do",
	            strerror(-f->uw.err));
	f->unrepaired++;
	f->uw.open = 0;
}

/* An unwrapped file that does not regenerate has no safe repair: its bytes are known only
 * through what does not regenerate, and nothing may be invented (man boa, fsck). */
static void fsck_unwrap_bad(void *arg, uint64_t ino, uint64_t block, int err)
{
	struct fsck *f = arg;

	if (f->uw.open && f->uw.ino == ino && f->uw.last + 1 == block && f->uw.err == err) {
		f->uw.last = block;
		return;
	}
	fsck_unwrap_flush(f);
	if (block == UINT64_MAX) {
		fsck_report(f, ino,
		            "unwrapped file: piece map unreadable (%s): reads as EIO; not "
		            "repairable, the file is left as it is",
		            strerror(-err));
		f->unrepaired++;
		return;
	}
	f->uw.ino = ino;
	f->uw.first = f->uw.last = block;
	f->uw.err = err;
	f->uw.open = 1;
}

static void fsck_free(struct fsck *f, struct fsck_inode_check *check)
{
	if (f->names)
		for (size_t i = 0; i <= f->max_ino; i++)
			free(f->names[i].name);
	free(f->names);
	free(f->links);
	free(f->subdirs);
	free(f->exists);
	free(f->is_dir);
	free(f->stored);
	free(f->stored_bad);
	free(f->bad);
	free(f->seg_ids);
	free(f->seg_live);
	free(f->payload);
	free(f->raw);
	free(check->fix);
}

int fs_admin_fsck(struct fs *fs, int repair, FILE *report, struct fs_admin_fsck *res)
{
	struct fsck f;
	struct fsck_inode_check check = {0};
	struct idx_txn *t = NULL;
	int rc;
	size_t n;

	memset(res, 0, sizeof(*res));
	memset(&f, 0, sizeof(f));
	f.fs = fs;
	f.report = report;
	f.repair = repair;
	rc = idx_read_begin(f.fs->idx, &t);
	if (!rc)
		rc = idx_inode_each(t, fsck_max_ino, &f);
	idx_read_end(t);
	if (rc)
		goto walked;
	n = f.max_ino + 1;
	f.names = calloc(n, sizeof(*f.names));
	f.links = calloc(n, sizeof(*f.links));
	f.subdirs = calloc(n, sizeof(*f.subdirs));
	f.exists = calloc(n, 1);
	f.is_dir = calloc(n, 1);
	f.stored = calloc(n, sizeof(*f.stored));
	f.stored_bad = calloc(n, sizeof(*f.stored_bad));
	f.payload = malloc(boa_bound(f.fs->opt.block_size) + codec_bound(f.fs->opt.block_size));
	f.raw = malloc(f.fs->opt.block_size);
	check.cap = 4096;
	check.fix = calloc(check.cap, sizeof(*check.fix));
	check.f = &f;
	rc = seg_list(f.fs->seg, &f.seg_ids, &f.nsegs);
	if (!rc && !(f.seg_live = calloc(f.nsegs + 1, sizeof(*f.seg_live))))
		rc = -ENOMEM;
	if (!f.names || !f.links || !f.subdirs || !f.exists || !f.is_dir || !f.stored ||
	    !f.stored_bad || !f.payload || !f.raw || !check.fix)
		rc = -ENOMEM;
	if (rc)
		goto out;
	rc = idx_read_begin(f.fs->idx, &t);
	if (!rc)
		rc = idx_inode_each(t, fsck_inode, &f);
	if (!rc)
		rc = idx_dirent_each_all(t, fsck_dirent, &f);
	if (!rc)
		rc = idx_extent_each_all(t, fsck_extent, &f);
	if (!rc)
		rc = idx_inode_each(t, fsck_inode_counts, &check);
	idx_read_end(t);
walked:
	if (rc == -EIO) {
		/* The index itself is damaged (the daemon logged which database): nothing under the
		 * damaged page can be checked, and --repair cannot rebuild it. */
		fprintf(
		    report,
		    "index: index/data.mdb has a damaged page; the walk stopped there and what it "
		    "holds was not checked (restore index/ from a backup)\n");
		f.problems++;
		f.index_damaged = 1;
		res->walked = 1;
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	for (size_t i = 0; i < f.nsegs; i++) {
		struct idx_segment_usage u = {0, 0};

		rc = idx_read_begin(f.fs->idx, &t);
		if (rc)
			goto out;
		idx_segment_get(t, f.seg_ids[i], &u);
		idx_read_end(t);
		if (u.live_bytes != f.seg_live[i]) {
			fprintf(report,
			        "segment %016llx: index counts %llu live bytes, extents use %llu\n",
			        (unsigned long long)f.seg_ids[i], (unsigned long long)u.live_bytes,
			        (unsigned long long)f.seg_live[i]);
			f.problems++;
		}
	}
	/* Unwrapped files: every logical block regenerated and proven against its checksum. A
	 * file that does not regenerate is reported; --repair leaves it as it is. */
	rc = fs_unwrap_verify_all(f.fs, fsck_unwrap_bad, &f, &res->unwrapped_files);
	fsck_unwrap_flush(&f);
	if (rc)
		goto out;
	res->walked = 1;
	if (repair && f.problems > f.unrepaired) {
		rc = fsck_repair(&f, &check);
		res->repaired = !rc;
	}
out:
	res->problems = f.problems;
	res->unrepaired = f.unrepaired;
	res->extents_checked = f.extents_checked;
	res->bytes_verified = f.bytes_verified;
	res->index_damaged = f.index_damaged;
	fsck_free(&f, &check);
	return rc;
}

/* ---- gc ---- */

int fs_admin_gc(struct fs *fs, double dead_fraction, struct fs_admin_gc *res)
{
	struct fs_gc_report r = {0};
	int rc = fs_gc(fs, dead_fraction, &r);

	if (!rc)
		rc = idx_sync(fs->idx);
	res->segments_removed = r.segments_removed;
	res->segments_failed = r.segments_failed;
	res->bytes_moved = r.bytes_moved;
	res->bytes_freed = r.bytes_freed;
	return rc;
}
