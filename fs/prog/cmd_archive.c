/* cmd_archive — the archive commands of `boa`: stats, models, fsck and gc. Each opens the archive
 * through fs_open in an admin mode: stats, models and fsck read (and work on a mounted archive, as
 * LMDB readers); gc and fsck --repair write, and refuse a mounted archive. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "boa.h"
#include "boa_model.h"
#include "codec.h"
#include "fs.h"
#include "fs_archive.h"
#include "fs_file.h"
#include "fs_gc.h"
#include "prog.h"

/* ---- shared ---- */

static int open_archive(const char *archive, int writable, struct fs **out)
{
	struct fs_options opt = {0};

	opt.block_size = 128 << 10;
	opt.zstd_level = 3;
	opt.cache_size = 0;
	opt.recompress = FS_RECOMPRESS_OFF;
	opt.read_only = !writable;
	opt.admin = writable ? FS_ADMIN_WRITE : FS_ADMIN_READ;
	return fs_open(archive, &opt, out);
}

static void human(char *buf, size_t cap, double bytes)
{
	const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	int u = 0;

	while (bytes >= 1024 && u < 5) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, cap, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
}

/* ---- stats ---- */

struct codec_tally {
	uint64_t blocks, logical, stored, pending;
};

struct tally {
	struct codec_tally codec[FS_CODECS];
	uint64_t files, dirs, logical_size;
};

static int tally_extent(void *arg, uint64_t ino, uint64_t block, const struct extent *e)
{
	struct tally *t = arg;
	struct codec_tally *c;

	if (e->codec >= FS_CODECS)
		return 0;
	c = &t->codec[e->codec];
	c->blocks++;
	c->logical += e->raw_len;
	c->stored += e->record_len;
	if (e->codec != CODEC_BOA && !(e->flags & EXTENT_BOA_TRIED))
		c->pending++;
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

struct cost_model {
	double disk_usd_tb_month, cpu_usd_core_hour, months, core_watts, kgco2_per_kwh;
};

static const char *stats_usage =
    "usage: boa stats ARCHIVE [--json] [--disk-usd-tb-month X] [--cpu-usd-core-hour X]\n"
    "                 [--months N] [--core-watts W] [--kgco2-per-kwh X]\n";

static int cmd_stats(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"disk-usd-tb-month", required_argument, NULL, 'd'},
	    {"cpu-usd-core-hour", required_argument, NULL, 'c'},
	    {"months", required_argument, NULL, 'm'},
	    {"core-watts", required_argument, NULL, 'w'},
	    {"kgco2-per-kwh", required_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	/* Defaults: cloud block storage and on-demand compute list prices, a server core's share
	 * of power, and a European grid mix; all overridable. */
	struct cost_model cm = {20.0, 0.04, 12.0, 10.0, 0.25};
	struct tally tl;
	struct fs *fs = NULL;
	struct idx_txn *t = NULL;
	uint64_t before = 0, after = 0;
	int json = 0, opt, rc;
	char *end;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		double *target = NULL;

		switch (opt) {
		case 'j':
			json = 1;
			continue;
		case 'd':
			target = &cm.disk_usd_tb_month;
			break;
		case 'c':
			target = &cm.cpu_usd_core_hour;
			break;
		case 'm':
			target = &cm.months;
			break;
		case 'w':
			target = &cm.core_watts;
			break;
		case 'k':
			target = &cm.kgco2_per_kwh;
			break;
		case 'h':
			fputs(stats_usage, stdout);
			return 0;
		default:
			fputs(stats_usage, stderr);
			return 2;
		}
		*target = strtod(optarg, &end);
		if (*end || *target < 0) {
			fprintf(stderr, "boa stats: %s: not a non-negative number\n", optarg);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fputs(stats_usage, stderr);
		return 2;
	}
	if (open_archive(argv[optind], 0, &fs))
		return 1;
	memset(&tl, 0, sizeof(tl));
	rc = idx_read_begin(fs->idx, &t);
	if (!rc)
		rc = idx_extent_each_all(t, tally_extent, &tl);
	if (!rc)
		rc = idx_inode_each(t, tally_inode, &tl);
	if (!rc) {
		idx_meta_get_u64(t, "recompress.before_bytes", &before);
		idx_meta_get_u64(t, "recompress.after_bytes", &after);
	}
	idx_read_end(t);
	if (rc) {
		fprintf(stderr, "boa stats: %s: cannot read the index: %s\n", argv[optind],
		        strerror(-rc));
		fs_close(fs);
		return 1;
	}

	uint64_t logical = 0, stored = 0, blocks = 0, pending = 0;
	double cpu_s[FS_CODECS][FS_CPU_OPS], boa_cpu_s;

	for (int c = 0; c < FS_CODECS; c++) {
		logical += tl.codec[c].logical;
		stored += tl.codec[c].stored;
		blocks += tl.codec[c].blocks;
		pending += tl.codec[c].pending;
		for (int op = 0; op < FS_CPU_OPS; op++)
			cpu_s[c][op] = fs->cpu_ns[c][op] / 1e9;
	}
	boa_cpu_s = cpu_s[CODEC_BOA][FS_CPU_ENCODE] + cpu_s[CODEC_BOA][FS_CPU_DECODE];
	/* What recompression saved, and what the CPU it took cost, in money and in energy. */
	double saved = before > after ? (double)(before - after) : 0;
	double saved_usd_month = saved / 1e12 * cm.disk_usd_tb_month;
	double cpu_usd = boa_cpu_s / 3600.0 * cm.cpu_usd_core_hour;
	double kwh = boa_cpu_s * cm.core_watts / 3.6e6;
	double kgco2 = kwh * cm.kgco2_per_kwh;
	double breakeven = saved_usd_month > 0 ? cpu_usd / saved_usd_month : -1;
	double ratio = stored ? (double)logical / stored : 0;

	if (json) {
		printf(
		    "{\n  \"archive\": \"%s\",\n  \"files\": %llu,\n  \"directories\": %llu,\n"
		    "  \"file_bytes\": %llu,\n  \"blocks\": %llu,\n  \"logical_bytes\": %llu,\n"
		    "  \"stored_bytes\": %llu,\n  \"ratio\": %.4f,\n  \"pending_blocks\": %llu,\n"
		    "  \"codecs\": {",
		    fs->archive, (unsigned long long)tl.files, (unsigned long long)tl.dirs,
		    (unsigned long long)tl.logical_size, (unsigned long long)blocks,
		    (unsigned long long)logical, (unsigned long long)stored, ratio,
		    (unsigned long long)pending);
		for (int c = 0; c < FS_CODECS; c++) {
			const struct codec_tally *ct = &tl.codec[c];

			printf("%s\n    \"%s\": {\"blocks\": %llu, \"logical_bytes\": %llu, "
			       "\"stored_bytes\": %llu, \"pending_blocks\": %llu, "
			       "\"cpu_encode_s\": %.6f, \"cpu_decode_s\": %.6f, "
			       "\"encode_mb_s\": %.3f, \"decode_mb_s\": %.3f}",
			       c ? "," : "", codec_name((uint8_t)c), (unsigned long long)ct->blocks,
			       (unsigned long long)ct->logical, (unsigned long long)ct->stored,
			       (unsigned long long)ct->pending, cpu_s[c][FS_CPU_ENCODE],
			       cpu_s[c][FS_CPU_DECODE],
			       cpu_s[c][FS_CPU_ENCODE] > 0
			           ? fs->cpu_bytes[c][FS_CPU_ENCODE] / 1e6 / cpu_s[c][FS_CPU_ENCODE]
			           : 0,
			       cpu_s[c][FS_CPU_DECODE] > 0
			           ? fs->cpu_bytes[c][FS_CPU_DECODE] / 1e6 / cpu_s[c][FS_CPU_DECODE]
			           : 0);
		}
		printf("\n  },\n  \"recompression\": {\"stored_before_bytes\": %llu, "
		       "\"stored_after_bytes\": %llu, \"saved_bytes\": %.0f, \"cpu_s\": %.6f},\n"
		       "  \"cost\": {\"disk_usd_tb_month\": %g, \"cpu_usd_core_hour\": %g, "
		       "\"months\": %g, \"core_watts\": %g, \"kgco2_per_kwh\": %g,\n"
		       "    \"saved_usd_per_month\": %.9f, \"saved_usd\": %.9f, \"cpu_usd\": %.9f, "
		       "\"net_usd\": %.9f, \"kwh\": %.9f, \"kgco2\": %.9f, "
		       "\"breakeven_months\": %.6f}\n}\n",
		       (unsigned long long)before, (unsigned long long)after, saved, boa_cpu_s,
		       cm.disk_usd_tb_month, cm.cpu_usd_core_hour, cm.months, cm.core_watts,
		       cm.kgco2_per_kwh, saved_usd_month, saved_usd_month * cm.months, cpu_usd,
		       saved_usd_month * cm.months - cpu_usd, kwh, kgco2, breakeven);
		fs_close(fs);
		return 0;
	}

	char a[32], b[32];

	printf("archive %s: %llu files, %llu directories, %llu blocks\n", fs->archive,
	       (unsigned long long)tl.files, (unsigned long long)tl.dirs,
	       (unsigned long long)blocks);
	human(a, sizeof(a), logical);
	human(b, sizeof(b), stored);
	printf("logical %s, stored %s, ratio %.3fx; %llu blocks waiting for recompression\n\n", a,
	       b, ratio, (unsigned long long)pending);
	printf("%-6s %10s %14s %14s %8s %12s %12s %11s %11s\n", "codec", "blocks", "logical",
	       "stored", "ratio", "cpu enc s", "cpu dec s", "enc MB/s", "dec MB/s");
	for (int c = 0; c < FS_CODECS; c++) {
		const struct codec_tally *ct = &tl.codec[c];
		double enc = cpu_s[c][FS_CPU_ENCODE], dec = cpu_s[c][FS_CPU_DECODE];

		human(a, sizeof(a), ct->logical);
		human(b, sizeof(b), ct->stored);
		printf("%-6s %10llu %14s %14s %7.3fx %12.3f %12.3f %11.2f %11.2f\n",
		       codec_name((uint8_t)c), (unsigned long long)ct->blocks, a, b,
		       ct->stored ? (double)ct->logical / ct->stored : 0, enc, dec,
		       enc > 0 ? fs->cpu_bytes[c][FS_CPU_ENCODE] / 1e6 / enc : 0,
		       dec > 0 ? fs->cpu_bytes[c][FS_CPU_DECODE] / 1e6 / dec : 0);
	}
	human(a, sizeof(a), saved);
	printf("\nrecompression with BOA saved %s for %.3f CPU seconds\n", a, boa_cpu_s);
	printf("cost model: disk $%g/TB-month, CPU $%g/core-hour, %g months, %g W/core, "
	       "%g kg CO2/kWh\n",
	       cm.disk_usd_tb_month, cm.cpu_usd_core_hour, cm.months, cm.core_watts,
	       cm.kgco2_per_kwh);
	printf("  disk saved:   $%.6f per month, $%.6f over %g months\n", saved_usd_month,
	       saved_usd_month * cm.months, cm.months);
	printf("  CPU spent:    $%.6f, %.6f kWh, %.6f kg CO2\n", cpu_usd, kwh, kgco2);
	printf("  net:          $%.6f over %g months\n", saved_usd_month * cm.months - cpu_usd,
	       cm.months);
	if (breakeven >= 0)
		printf("  break-even:   after %.3f months of storage\n", breakeven);
	else
		printf("  break-even:   never (nothing saved yet)\n");
	fs_close(fs);
	return 0;
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

	if (e->codec != CODEC_BOA || !e->model_id)
		return 0;
	u = model_use_find(arg, e->model_id, 1);
	if (!u)
		return -ENOMEM;
	u->blocks++;
	return 0;
}

struct model_print {
	struct model_list *uses;
	uint64_t current;
};

static int print_model(void *arg, uint32_t id, const void *bytes, size_t len)
{
	struct model_print *p = arg;
	struct model_use *u = model_use_find(p->uses, id, 0);
	struct boa_model *m = NULL;
	char err[160];
	int dim = 0, layers = 0;
	size_t params = 0;

	if (boa_model_load(bytes, len, &m, err, sizeof(err)) == 0) {
		boa_model_shape(m, &dim, &layers, &params);
		boa_model_free(m);
		printf("%08x %10zu %5d %6d %9zu %10llu%s\n", id, len, dim, layers, params,
		       (unsigned long long)(u ? u->blocks : 0),
		       id == p->current ? "  current" : "");
	} else {
		printf("%08x %10zu  (does not load: %s) %10llu\n", id, len, err,
		       (unsigned long long)(u ? u->blocks : 0));
	}
	return 0;
}

static int cmd_models(int argc, char **argv)
{
	struct model_list uses = {0};
	struct model_print p = {&uses, 0};
	struct fs *fs = NULL;
	struct idx_txn *t = NULL;
	int rc;

	if (argc != 2 || argv[1][0] == '-') {
		fputs("usage: boa models ARCHIVE\n", argc == 2 ? stdout : stderr);
		return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	if (open_archive(argv[1], 0, &fs))
		return 1;
	rc = idx_read_begin(fs->idx, &t);
	if (!rc)
		rc = idx_extent_each_all(t, count_model_use, &uses);
	if (!rc) {
		idx_meta_get_u64(t, "current_model", &p.current);
		printf("%-8s %10s %5s %6s %9s %10s\n", "id", "bytes", "dim", "layers", "params",
		       "blocks");
		rc = idx_model_each(t, print_model, &p);
	}
	idx_read_end(t);
	for (size_t i = 0; i < uses.n && !rc; i++) {
		const void *bytes;
		size_t len;

		rc = idx_read_begin(fs->idx, &t);
		if (rc)
			break;
		if (idx_model_get(t, uses.v[i].id, &bytes, &len) == -ENOENT)
			printf("%08x %10s %5s %6s %9s %10llu  MISSING\n", uses.v[i].id, "-", "-",
			       "-", "-", (unsigned long long)uses.v[i].blocks);
		idx_read_end(t);
	}
	free(uses.v);
	fs_close(fs);
	if (rc) {
		fprintf(stderr, "boa models: %s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	return 0;
}

/* ---- fsck ---- */

struct name_link {
	uint64_t parent;
	char *name;
};

/* fsck(8)'s exit statuses */
#define FSCK_EXIT_CORRECTED   1
#define FSCK_EXIT_UNCORRECTED 4
#define FSCK_EXIT_OPERATIONAL 8

struct fsck {
	struct fs *fs;
	int repair;
	int index_damaged; /* a walk of the index met a damaged page */
	uint64_t problems, extents_checked, bytes_verified;
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
	char tmp[4096];
	int depth = 0;

	buf[0] = '\0';
	if (ino == IDX_ROOT_INO) {
		snprintf(buf, cap, "/");
		return;
	}
	while (ino != IDX_ROOT_INO && ino <= f->max_ino && f->names[ino].name && depth++ < 256) {
		snprintf(tmp, sizeof(tmp), "/%s%s", f->names[ino].name, buf);
		snprintf(buf, cap, "%s", tmp);
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
	printf("inode %llu %s: %s\n", (unsigned long long)ino, path, what);
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
		printf("directory %llu entry '%s': points at missing inode %llu\n",
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
		printf("inode %llu block %llu: extent of a missing inode\n",
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
		printf("repaired: inode %llu block %llu dropped (reads as zeros)\n",
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

static int cmd_fsck(int argc, char **argv)
{
	struct fsck f;
	struct fsck_inode_check check = {0};
	struct idx_txn *t = NULL;
	const char *archive = NULL;
	int rc, repair = 0;
	size_t n;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--repair")) {
			repair = 1;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs("usage: boa fsck [--repair] ARCHIVE\n", stdout);
			return 0;
		} else if (argv[i][0] == '-' || archive) {
			fputs("usage: boa fsck [--repair] ARCHIVE\n", stderr);
			return 2;
		} else {
			archive = argv[i];
		}
	}
	if (!archive) {
		fputs("usage: boa fsck [--repair] ARCHIVE\n", stderr);
		return 2;
	}
	memset(&f, 0, sizeof(f));
	f.repair = repair;
	if (open_archive(archive, repair, &f.fs))
		return FSCK_EXIT_OPERATIONAL;
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
		printf(
		    "index: index/data.mdb has a damaged page; the walk stopped there and what it "
		    "holds was not checked (restore index/ from a backup)\n");
		f.problems++;
		f.index_damaged = 1;
		rc = 0;
		goto summary;
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
			printf("segment %016llx: index counts %llu live bytes, extents use %llu\n",
			       (unsigned long long)f.seg_ids[i], (unsigned long long)u.live_bytes,
			       (unsigned long long)f.seg_live[i]);
			f.problems++;
		}
	}
summary:
	printf("%s: %llu extents checked, %llu bytes verified, %llu problem%s\n", f.fs->archive,
	       (unsigned long long)f.extents_checked, (unsigned long long)f.bytes_verified,
	       (unsigned long long)f.problems, f.problems == 1 ? "" : "s");
	if (repair && f.index_damaged) {
		fprintf(stderr,
		        "boa fsck: %s: --repair does not rebuild a damaged index; nothing "
		        "was changed\n",
		        archive);
		repair = 0;
	} else if (repair && f.problems) {
		rc = fsck_repair(&f, &check);
	}
out:
	if (rc)
		fprintf(stderr, "boa fsck: %s: %s\n", archive, strerror(-rc));
	if (f.names)
		for (size_t i = 0; i <= f.max_ino; i++)
			free(f.names[i].name);
	free(f.names);
	free(f.links);
	free(f.subdirs);
	free(f.exists);
	free(f.is_dir);
	free(f.stored);
	free(f.stored_bad);
	free(f.bad);
	free(f.seg_ids);
	free(f.seg_live);
	free(f.payload);
	free(f.raw);
	free(check.fix);
	fs_close(f.fs);
	/* Exit status as fsck(8). */
	if (rc)
		return FSCK_EXIT_OPERATIONAL;
	if (!f.problems)
		return 0;
	return repair ? FSCK_EXIT_CORRECTED : FSCK_EXIT_UNCORRECTED;
}

/* ---- gc ---- */

static int cmd_gc(int argc, char **argv)
{
	struct fs_gc_report r;
	struct fs *fs = NULL;
	double threshold = 0.25;
	const char *archive = NULL;
	char a[32], b[32];
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threshold") && i + 1 < argc) {
			char *end;

			threshold = strtod(argv[++i], &end);
			if (*end || threshold < 0 || threshold > 1) {
				fprintf(stderr, "boa gc: --threshold %s: expected 0..1\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs("usage: boa gc [--threshold FRACTION] ARCHIVE\n", stdout);
			return 0;
		} else if (argv[i][0] == '-' || archive) {
			fputs("usage: boa gc [--threshold FRACTION] ARCHIVE\n", stderr);
			return 2;
		} else {
			archive = argv[i];
		}
	}
	if (!archive) {
		fputs("usage: boa gc [--threshold FRACTION] ARCHIVE\n", stderr);
		return 2;
	}
	if (open_archive(archive, 1, &fs))
		return 1;
	rc = fs_gc(fs, threshold, &r);
	if (!rc)
		rc = idx_sync(fs->idx);
	fs_close(fs);
	if (rc) {
		fprintf(stderr, "boa gc: %s: %s\n", archive, strerror(-rc));
		return 1;
	}
	human(a, sizeof(a), r.bytes_moved);
	human(b, sizeof(b), r.bytes_freed);
	printf("%s: %llu segments compacted (%llu failed), %s of live records moved, %s freed\n",
	       archive, (unsigned long long)r.segments_removed,
	       (unsigned long long)r.segments_failed, a, b);
	return r.segments_failed ? 1 : 0;
}

int cmd_archive(int argc, char **argv)
{
	if (!strcmp(argv[0], "stats"))
		return cmd_stats(argc, argv);
	if (!strcmp(argv[0], "models"))
		return cmd_models(argc, argv);
	if (!strcmp(argv[0], "fsck"))
		return cmd_fsck(argc, argv);
	if (!strcmp(argv[0], "gc"))
		return cmd_gc(argc, argv);
	fprintf(stderr, "boa: unknown archive command '%s'\n", argv[0]);
	return 2;
}
