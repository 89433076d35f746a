/* cmd_archive — the archive commands of `boa`: stats, models, fsck and gc; their options,
 * tables, JSON and exit statuses (fs_admin.h does the work). stats, models and fsck read, and
 * work on a mounted archive; gc and fsck --repair write, and refuse a mounted archive. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_admin.h"
#include "prog.h"

/* ---- shared ---- */

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

/* -h prints the usage on standard output (exit 0); any other option is a usage error, said on
 * standard error (exit 2). */
static int usage_exit(int opt, const char *usage)
{
	fputs(usage, opt == 'h' ? stdout : stderr);
	return opt == 'h' ? 0 : 2;
}

/* ---- stats ---- */

struct cost_model {
	double disk_usd_tb_month, cpu_usd_core_hour, months, core_watts, kgco2_per_kwh;
};

static const char *stats_usage =
    "usage: boa stats ARCHIVE|MOUNTPOINT|PATH [--json] [--wait] [--sample SECONDS]\n"
    "                 [--disk-usd-tb-month X] [--cpu-usd-core-hour X] [--months N]\n"
    "                 [--core-watts W] [--kgco2-per-kwh X]\n"
    "       boa wait ARCHIVE|MOUNTPOINT|PATH\n"
    "A PATH inside a mount gives its subtree's figures. --wait blocks until the\n"
    "recompression pool has tried every block (of the subtree), with progress on a\n"
    "terminal; boa wait does only that. On a mounted archive with blocks waiting, stats\n"
    "watches the pool up to --sample seconds (default 5, with --json 0) for its rate and ETA.\n";

/* "key": "value" (JSON-escaped) or null, and a comma. */
static void json_string(const char *key, const char *value)
{
	printf("  \"%s\": ", key);
	if (!value) {
		printf("null,\n");
		return;
	}
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	printf("\",\n");
}

/* What one look at the target found. */
struct stats_view {
	struct fs_admin_stats st;
	uint64_t logical, stored, blocks, pending, pending_logical;
	double t; /* when (now_s) */
};

static int stats_look(struct fs *fs, struct target *tg, struct stats_view *v)
{
	int rc;

	memset(v, 0, sizeof(*v));
	if (tg->path) {
		rc = target_walk(tg);
		if (!rc)
			rc = fs_admin_stats_inodes(fs, tg->inos, tg->ninos, &v->st);
		v->st.files = tg->files;
		v->st.dirs = tg->dirs;
		v->st.file_bytes = tg->file_bytes;
	} else {
		rc = fs_admin_stats(fs, &v->st);
	}
	if (rc) {
		fprintf(stderr, "boa stats: %s: cannot read the index: %s\n", tg->archive,
		        strerror(-rc));
		return rc;
	}
	for (int c = 0; c < FS_ADMIN_CODECS; c++) {
		v->logical += v->st.codec[c].logical;
		v->stored += v->st.codec[c].stored;
		v->blocks += v->st.codec[c].blocks;
		v->pending += v->st.codec[c].pending;
		v->pending_logical += v->st.codec[c].pending_logical;
	}
	v->logical += v->st.unwrapped.logical;
	v->stored += v->st.unwrapped.stored;
	v->t = now_s();
	return 0;
}

/* The pool's rate between two looks, in blocks and logical bytes per second, and the time the
 * pending blocks would take at that rate (-1: unknown). */
struct pool_rate {
	double sample_s, blocks_s, bytes_s, eta_s;
};

static void pool_rate(const struct stats_view *a, const struct stats_view *b, struct pool_rate *r)
{
	double dt = b->t - a->t;
	double done = a->pending > b->pending ? (double)(a->pending - b->pending) : 0;
	double per_block = b->pending ? (double)b->pending_logical / b->pending
	                              : (a->pending ? (double)a->pending_logical / a->pending : 0);

	r->sample_s = dt;
	r->blocks_s = dt > 0 ? done / dt : 0;
	r->bytes_s = r->blocks_s * per_block;
	r->eta_s = !b->pending ? 0 : r->blocks_s > 0 ? b->pending / r->blocks_s : -1;
}

/* Blocks until the pool has tried every block of the target. A condition, with no time limit:
 * the pool takes as long as the data and the machine need. Progress and an ETA on a terminal;
 * quiet when stderr is not one. */
static int stats_wait(struct fs *fs, struct target *tg, struct stats_view *v)
{
	struct stats_view first;
	int tty = isatty(STDERR_FILENO), rc;
	uint64_t most;

	rc = stats_look(fs, tg, v);
	if (rc)
		return rc;
	if (v->pending && !tg->mountpoint) {
		fprintf(stderr,
		        "boa stats: %s: %llu blocks wait for recompression, but the archive is not "
		        "mounted: nothing will recompress them\n",
		        tg->archive, (unsigned long long)v->pending);
		return -EAGAIN;
	}
	if (v->pending && tg->pool_off) {
		fprintf(stderr,
		        "boa stats: %s: %llu blocks wait for recompression, but %s is %s: nothing "
		        "will recompress them\n",
		        tg->archive, (unsigned long long)v->pending, tg->mountpoint, tg->pool_off);
		return -EAGAIN;
	}
	first = *v;
	most = v->pending;
	while (v->pending) {
		struct pool_rate r;
		char eta[16] = "--:--", bar[31];
		int fill;

		sleep(1);
		rc = stats_look(fs, tg, v);
		if (rc)
			return rc;
		if (v->pending > most) /* new writes */
			most = v->pending;
		if (!tty)
			continue;
		pool_rate(&first, v, &r);
		if (r.eta_s >= 0)
			eta_text(eta, sizeof(eta), r.eta_s);
		fill = most ? (int)(30.0 * (double)(most - v->pending) / (double)most) : 30;
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(30 - fill));
		bar[30] = 0;
		fprintf(stderr, "\r[%s] %llu of %llu blocks left, %.2f MB/s, ETA %s \033[K", bar,
		        (unsigned long long)v->pending, (unsigned long long)most, r.bytes_s / 1e6,
		        eta);
	}
	if (tty)
		fputs("\r\033[K", stderr);
	return 0;
}

int cmd_stats(int argc, char **argv)
{
	enum { O_WAIT = 256, O_SAMPLE };
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"wait", no_argument, NULL, O_WAIT},
	    {"sample", required_argument, NULL, O_SAMPLE},
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
	struct stats_view v0, v;
	struct pool_rate pr = {0, 0, 0, -1};
	struct fs_admin_space sp;
	struct target tg;
	struct fs *fs = NULL;
	uint64_t before, after;
	int json = 0, wait = !strcmp(argv[0], "wait"), only_wait = wait, opt, rc;
	double sample = -1; /* unset: up to 5 s for the text, 0 for --json (scripts poll it) */
	char *end;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		double *target = NULL;

		switch (opt) {
		case 'j':
			json = 1;
			continue;
		case O_WAIT:
			wait = 1;
			continue;
		case O_SAMPLE:
			target = &sample;
			break;
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
		default: /* -h, or a usage error */
			return usage_exit(opt, stats_usage);
		}
		*target = strtod(optarg, &end);
		if (!*optarg || *end || *target < 0) {
			fprintf(stderr, "boa stats: %s: not a non-negative number\n", optarg);
			return 2;
		}
	}
	if (optind + 1 != argc)
		return usage_exit('?', stats_usage);
	if (target_resolve(argv[optind], &tg))
		return 1;
	if (fs_admin_open(tg.archive, 0, &fs)) {
		target_free(&tg);
		return 1;
	}
	rc = wait ? stats_wait(fs, &tg, &v) : stats_look(fs, &tg, &v);
	if (!rc && only_wait) {
		fs_admin_close(fs);
		target_free(&tg);
		return 0;
	}
	if (sample < 0)
		sample = json ? 0 : 5;
	if (!rc && !wait && v.pending && tg.mountpoint && !tg.pool_off && sample > 0) {
		/* Watch the pool for up to `sample` seconds: its rate and the time the rest would
		 * take. A block can take seconds, so stop early only once one has finished and a
		 * second has passed. */
		v0 = v;
		do {
			double left = sample - (now_s() - v0.t);

			usleep((useconds_t)((left < 0.5 ? left : 0.5) * 1e6));
			rc = stats_look(fs, &tg, &v);
		} while (!rc && v.t - v0.t < sample && (v.pending >= v0.pending || v.t - v0.t < 1));
		if (!rc)
			pool_rate(&v0, &v, &pr);
	}
	if (!rc)
		rc = fs_admin_space(fs, &sp);
	if (rc) {
		fs_admin_close(fs);
		target_free(&tg);
		return 1;
	}
	before = v.st.recompress_before;
	after = v.st.recompress_after;

	uint64_t logical = v.logical, stored = v.stored, blocks = v.blocks, pending = v.pending;
	const struct fs_admin_stats st = v.st;
	const struct fs_admin_codec *boa = &st.codec[FS_ADMIN_CODECS - 1];
	double boa_cpu_s;

	boa_cpu_s = boa->cpu_encode_s + boa->cpu_decode_s;
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
		    "  \"pending_bytes\": %llu,\n",
		    fs_admin_archive(fs), (unsigned long long)st.files, (unsigned long long)st.dirs,
		    (unsigned long long)st.file_bytes, (unsigned long long)blocks,
		    (unsigned long long)logical, (unsigned long long)stored, ratio,
		    (unsigned long long)pending, (unsigned long long)v.pending_logical);
		json_string("mountpoint", tg.mountpoint);
		json_string("path", tg.path);
		json_string("pool_off", tg.pool_off);
		printf("  \"pool\": {\"sample_s\": %.3f, \"rate_blocks_s\": %.4f, "
		       "\"rate_mb_s\": %.4f, \"eta_s\": ",
		       pr.sample_s, pr.blocks_s, pr.bytes_s / 1e6);
		if (pr.eta_s >= 0 || !pending)
			printf("%.1f},\n", pending ? pr.eta_s : 0);
		else
			printf("null},\n");
		printf("  \"space\": {\"segments\": %llu, \"segment_bytes\": %llu, "
		       "\"live_bytes\": %llu, \"dead_bytes\": %llu, \"index_bytes\": %llu},\n",
		       (unsigned long long)sp.segments, (unsigned long long)sp.segment_bytes,
		       (unsigned long long)sp.live_bytes, (unsigned long long)sp.dead_bytes,
		       (unsigned long long)sp.index_bytes);
		printf("  \"codecs\": {");
		for (int c = 0; c < FS_ADMIN_CODECS; c++) {
			const struct fs_admin_codec *ct = &st.codec[c];

			printf("%s\n    \"%s\": {\"blocks\": %llu, \"logical_bytes\": %llu, "
			       "\"stored_bytes\": %llu, \"pending_blocks\": %llu, "
			       "\"cpu_encode_s\": %.6f, \"cpu_decode_s\": %.6f, "
			       "\"encode_mb_s\": %.3f, \"decode_mb_s\": %.3f}",
			       c ? "," : "", ct->name, (unsigned long long)ct->blocks,
			       (unsigned long long)ct->logical, (unsigned long long)ct->stored,
			       (unsigned long long)ct->pending, ct->cpu_encode_s, ct->cpu_decode_s,
			       ct->cpu_encode_s > 0 ? ct->encode_bytes / 1e6 / ct->cpu_encode_s : 0,
			       ct->cpu_decode_s > 0 ? ct->decode_bytes / 1e6 / ct->cpu_decode_s
			                            : 0);
		}
		printf("\n  },\n  \"unwrapped\": {\"files\": %llu, \"logical_bytes\": %llu, "
		       "\"unwrapped_bytes\": %llu, \"stored_bytes\": %llu, "
		       "\"stored_before_bytes\": %llu, \"ratio\": %.4f, \"cpu_s\": %.6f}",
		       (unsigned long long)st.unwrapped.files,
		       (unsigned long long)st.unwrapped.logical,
		       (unsigned long long)st.unwrapped.unwrapped,
		       (unsigned long long)st.unwrapped.stored,
		       (unsigned long long)st.unwrapped.stored_before,
		       st.unwrapped.stored ? (double)st.unwrapped.logical / st.unwrapped.stored : 0,
		       st.unwrapped.cpu_s);
		printf(",\n  \"recompression\": {\"stored_before_bytes\": %llu, "
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
		fs_admin_close(fs);
		target_free(&tg);
		return 0;
	}

	char a[32], b[32], c3[32];

	if (tg.path)
		printf("%s (in archive %s): %llu files, %llu directories, %llu blocks\n", tg.path,
		       fs_admin_archive(fs), (unsigned long long)st.files,
		       (unsigned long long)st.dirs, (unsigned long long)blocks);
	else
		printf("archive %s: %llu files, %llu directories, %llu blocks\n",
		       fs_admin_archive(fs), (unsigned long long)st.files,
		       (unsigned long long)st.dirs, (unsigned long long)blocks);
	if (tg.mountpoint)
		printf("mounted on %s\n", tg.mountpoint);
	human(a, sizeof(a), logical);
	human(b, sizeof(b), stored);
	printf("logical %s, stored %s, ratio %.3fx; %llu blocks waiting for recompression\n", a, b,
	       ratio, (unsigned long long)pending);
	if (pending && !tg.mountpoint) {
		printf("  (not mounted: nothing recompresses them now)\n");
	} else if (pending && tg.pool_off) {
		printf("  (%s: nothing recompresses them)\n", tg.pool_off);
	} else if (pending && pr.sample_s > 0) {
		char eta[16] = "unknown";

		if (pr.eta_s >= 0)
			eta_text(eta, sizeof(eta), pr.eta_s);
		human(a, sizeof(a), (double)v.pending_logical);
		printf("  %s of data; pool rate %.2f MB/s (%.2f blocks/s over %.1f s), ETA %s%s\n",
		       a, pr.bytes_s / 1e6, pr.blocks_s, pr.sample_s, eta,
		       pr.eta_s < 0 ? " (no block finished while watched: blocks not cold yet, "
		                      "or a slow block)"
		                    : "");
	}
	human(a, sizeof(a), (double)sp.live_bytes);
	human(b, sizeof(b), (double)sp.dead_bytes);
	human(c3, sizeof(c3), (double)sp.index_bytes);
	printf("archive on disk: live %s, dead %s (in %llu segments), index %s\n\n", a, b,
	       (unsigned long long)sp.segments, c3);
	printf("%-6s %10s %14s %14s %8s %12s %12s %11s %11s\n", "codec", "blocks", "logical",
	       "stored", "ratio", "cpu enc s", "cpu dec s", "enc MB/s", "dec MB/s");
	for (int c = 0; c < FS_ADMIN_CODECS; c++) {
		const struct fs_admin_codec *ct = &st.codec[c];
		double enc = ct->cpu_encode_s, dec = ct->cpu_decode_s;

		human(a, sizeof(a), ct->logical);
		human(b, sizeof(b), ct->stored);
		printf("%-6s %10llu %14s %14s %7.3fx %12.3f %12.3f %11.2f %11.2f\n", ct->name,
		       (unsigned long long)ct->blocks, a, b,
		       ct->stored ? (double)ct->logical / ct->stored : 0, enc, dec,
		       enc > 0 ? ct->encode_bytes / 1e6 / enc : 0,
		       dec > 0 ? ct->decode_bytes / 1e6 / dec : 0);
	}
	if (st.unwrapped.files) {
		char c[32], d[32];

		human(a, sizeof(a), st.unwrapped.logical);
		human(b, sizeof(b), st.unwrapped.stored);
		human(c, sizeof(c), st.unwrapped.unwrapped);
		human(d, sizeof(d), st.unwrapped.stored_before);
		printf("\nunwrapped: %llu files, logical %s, stored %s, ratio %.3fx, %.3f CPU s to "
		       "unwrap (%s unwrapped bytes; %s stored before)\n",
		       (unsigned long long)st.unwrapped.files, a, b,
		       st.unwrapped.stored ? (double)st.unwrapped.logical / st.unwrapped.stored : 0,
		       st.unwrapped.cpu_s, c, d);
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
	fs_admin_close(fs);
	target_free(&tg);
	return 0;
}

int cmd_wait(int argc, char **argv)
{
	return cmd_stats(argc, argv);
}

/* ---- models ---- */

static int print_model(void *arg, const struct fs_admin_model *m)
{
	if (m->missing)
		printf("%08x %10s %5s %6s %9s %10llu  MISSING\n", m->id, "-", "-", "-", "-",
		       (unsigned long long)m->blocks);
	else if (m->loads)
		printf("%08x %10zu %5d %6d %9zu %10llu%s\n", m->id, m->bytes, m->dim, m->layers,
		       m->params, (unsigned long long)m->blocks, m->current ? "  current" : "");
	else
		printf("%08x %10zu  (does not load: %s) %10llu\n", m->id, m->bytes, m->error,
		       (unsigned long long)m->blocks);
	return 0;
}

int cmd_models(int argc, char **argv)
{
	struct fs *fs = NULL;
	int rc;

	static const struct option lopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static const char usage[] = "usage: boa models ARCHIVE\n";
	int opt;

	optind = 1;
	if ((opt = getopt_long(argc, argv, "h", lopts, NULL)) != -1)
		return usage_exit(opt, usage);
	if (optind + 1 != argc)
		return usage_exit('?', usage);
	if (fs_admin_open(argv[optind], 0, &fs))
		return 1;
	printf("%-8s %10s %5s %6s %9s %10s\n", "id", "bytes", "dim", "layers", "params", "blocks");
	rc = fs_admin_models(fs, print_model, NULL);
	fs_admin_close(fs);
	if (rc) {
		fprintf(stderr, "boa models: %s: %s\n", argv[optind], strerror(-rc));
		return 1;
	}
	return 0;
}

/* ---- fsck ---- */

/* fsck(8)'s exit statuses */
#define FSCK_EXIT_CORRECTED   1
#define FSCK_EXIT_UNCORRECTED 4
#define FSCK_EXIT_OPERATIONAL 8

int cmd_fsck(int argc, char **argv)
{
	struct fs_admin_fsck res;
	struct fs *fs = NULL;
	const char *archive = NULL;
	int rc, repair = 0;

	static const struct option lopts[] = {
	    {"repair", no_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static const char usage[] = "usage: boa fsck [--repair] ARCHIVE\n";
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			repair = 1;
			break;
		default: /* -h, or a usage error */
			return usage_exit(opt, usage);
		}
	}
	if (optind + 1 != argc)
		return usage_exit('?', usage);
	archive = argv[optind];
	if (fs_admin_open(archive, repair, &fs))
		return FSCK_EXIT_OPERATIONAL;
	rc = fs_admin_fsck(fs, repair, stdout, &res);
	if (res.unwrapped_files)
		printf("%llu unwrapped file%s regenerated\n",
		       (unsigned long long)res.unwrapped_files,
		       res.unwrapped_files == 1 ? "" : "s");
	if (res.walked)
		printf("%s: %llu extents checked, %llu bytes verified, %llu problem%s\n",
		       fs_admin_archive(fs), (unsigned long long)res.extents_checked,
		       (unsigned long long)res.bytes_verified, (unsigned long long)res.problems,
		       res.problems == 1 ? "" : "s");
	if (res.unrepaired)
		printf("%llu problem%s left as %s: an unwrapped file whose bytes do not regenerate "
		       "has no "
		       "repair (restore it from a backup; its blocks that read are right)\n",
		       (unsigned long long)res.unrepaired, res.unrepaired == 1 ? "" : "s",
		       res.unrepaired == 1 ? "it is" : "they are");
	if (repair && res.index_damaged) {
		fprintf(stderr,
		        "boa fsck: %s: --repair does not rebuild a damaged index; nothing "
		        "was changed\n",
		        archive);
		repair = 0;
	}
	if (rc)
		fprintf(stderr, "boa fsck: %s: %s\n", archive, strerror(-rc));
	fs_admin_close(fs);
	/* Exit status as fsck(8). */
	if (rc)
		return FSCK_EXIT_OPERATIONAL;
	if (!res.problems)
		return 0;
	if (!repair)
		return FSCK_EXIT_UNCORRECTED;
	/* As fsck(8), the sum: what --repair corrected, and what it left. */
	return (res.problems > res.unrepaired ? FSCK_EXIT_CORRECTED : 0) |
	       (res.unrepaired ? FSCK_EXIT_UNCORRECTED : 0);
}

/* ---- gc ---- */

int cmd_gc(int argc, char **argv)
{
	struct fs_admin_gc r;
	struct fs *fs = NULL;
	double threshold = 0.25;
	const char *archive = NULL;
	char a[32], b[32];
	int rc;

	static const struct option lopts[] = {
	    {"threshold", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static const char usage[] = "usage: boa gc [--threshold FRACTION] ARCHIVE\n";
	char *end;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (opt) {
		case 't':
			threshold = strtod(optarg, &end);
			if (!*optarg || *end || threshold < 0 || threshold > 1) {
				fprintf(stderr, "boa gc: --threshold %s: expected 0..1\n", optarg);
				return 2;
			}
			break;
		default: /* -h, or a usage error */
			return usage_exit(opt, usage);
		}
	}
	if (optind + 1 != argc)
		return usage_exit('?', usage);
	archive = argv[optind];
	if (fs_admin_open(archive, 1, &fs))
		return 1;
	rc = fs_admin_gc(fs, threshold, &r);
	fs_admin_close(fs);
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
