/* unwrap (codec/unwrap.h): every already-compressed sample re-created byte for byte from its
 * unwrapped bytes, most of the zlib/LZ4/gzip bytes unwrapped, LZMA/ZSTD blocks left alone,
 * damaged ROOT and gzip containers stored plain without a crash, the serialized plan round-trips
 * and refuses corruption, and drift of the compression library is caught. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <math.h>
#include <cmocka.h>
#include <xxhash.h>

#include "unwrap.h"
#include "unwrap_check.h"

struct file {
	uint8_t *data;
	size_t len;
};

static const char *rootc_dir(void)
{
	const char *src = getenv("BOAFS_SRC");
	static char path[4096];

	snprintf(path, sizeof(path), "%s/tests/data/rootc", src ? src : ".");
	return path;
}

static int load(const char *dir, const char *name, struct file *f)
{
	char path[4096];
	FILE *fp;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "rb");
	if (!fp)
		return -errno;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	f->len = (size_t)n;
	f->data = malloc(f->len ? f->len : 1);
	assert_non_null(f->data);
	assert_int_equal(fread(f->data, 1, f->len, fp), f->len);
	fclose(fp);
	return 0;
}

static void load_rootc(const char *name, struct file *f)
{
	int rc = load(rootc_dir(), name, f);

	if (rc)
		fail_msg("cannot read %s/%s: %s", rootc_dir(), name, strerror(-rc));
}

/* Fails the test unless the plan covers the file exactly and unwrap + regenerate of every piece
 * gives back every byte of it (unwrap_check.h). */
static void assert_plan_recreates(const struct unwrap_plan *p, const uint8_t *data, size_t len)
{
	char why[512];

	if (unwrap_check_plan(p, data, len, why, sizeof(why)))
		fail_msg("%s", why);
}

static struct unwrap_plan *scan(const struct file *f)
{
	struct unwrap_plan *p = NULL;

	assert_int_equal(unwrap_scan(f->data, f->len, NULL, &p), 0);
	assert_non_null(p);
	return p;
}

static void test_every_rootc_file_is_recreated_byte_for_byte(void **state)
{
	DIR *d = opendir(rootc_dir());
	struct dirent *e;
	int files = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		struct file f;
		struct unwrap_plan *p;

		if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0)
			continue;
		load_rootc(e->d_name, &f);
		p = scan(&f);
		assert_plan_recreates(p, f.data, f.len);
		printf("  %-48s %8zu bytes: %5.1f%% unwrapped (%u of %u streams) -> %lu unwrapped "
		       "bytes, %lu recipe tries\n",
		       e->d_name, f.len, 100.0 * (double)p->stats.bytes_unwrapped / (double)f.len,
		       p->stats.streams_unwrapped, p->stats.streams,
		       (unsigned long)p->unwrapped_len, (unsigned long)p->stats.recipe_tries);
		unwrap_plan_free(p);
		free(f.data);
		files++;
	}
	closedir(d);
	assert_int_equal(files, 8);
}

/* The uncompressed and other samples of tests/data/hep (not containers, or ROOT files with few
 * compressed keys) round-trip too. */
static void test_hep_samples_are_recreated_byte_for_byte(void **state)
{
	const char *dir = getenv("HEP_DATA");
	DIR *d;
	struct dirent *e;

	if (!dir)
		skip();
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d))) {
		struct file f;
		struct unwrap_plan *p;

		if (e->d_name[0] == '.' || strstr(e->d_name, ".md"))
			continue;
		assert_int_equal(load(dir, e->d_name, &f), 0);
		p = scan(&f);
		assert_plan_recreates(p, f.data, f.len);
		unwrap_plan_free(p);
		free(f.data);
	}
	closedir(d);
}

static double unwrapped_fraction(const char *name, uint8_t lib)
{
	struct file f;
	struct unwrap_plan *p;
	uint64_t bytes = 0;
	double frac;

	load_rootc(name, &f);
	p = scan(&f);
	for (uint32_t i = 0; i < p->n_pieces; i++)
		if (p->pieces[i].recipe.lib == lib)
			bytes += p->pieces[i].len;
	frac = (double)bytes / (double)f.len;
	printf("  %-48s %5.1f%% of the bytes in %s streams that re-create\n", name, 100.0 * frac,
	       unwrap_lib_name(lib));
	unwrap_plan_free(p);
	free(f.data);
	return frac;
}

/* Thresholds a little under what Debian's zlib 1.2.13 and liblz4 1.9.4 reach (98.8%, 90.3%,
 * 90.1%, 54.2%, 56.8%, 100%): the rest of those files is key headers and uncompressed keys. */
static void test_zlib_lz4_and_gzip_files_unwrap_most_bytes(void **state)
{
	assert_true(unwrapped_fraction("uproot-Zmumu-zlib.root", UNWRAP_LIB_ZLIB) > 0.95);
	assert_true(unwrapped_fraction("uproot-Zmumu-lz4.root", UNWRAP_LIB_LZ4) > 0.85);
	assert_true(unwrapped_fraction("uproot-issue-1070.root", UNWRAP_LIB_ZLIB) > 0.85);
	assert_true(unwrapped_fraction("uproot-issue121.root", UNWRAP_LIB_ZLIB) > 0.5);
	assert_true(unwrapped_fraction("uproot-mc10events.root", UNWRAP_LIB_ZLIB) > 0.5);
	assert_true(unwrapped_fraction("pylhe-testfile-madgraph5-3.5.8-pp_to_jj.lhe.gz",
	                               UNWRAP_LIB_ZLIB) > 0.99);
}

/* XZ and ZS blocks are counted but never become pieces: the files come out unchanged. */
static void test_lzma_and_zstd_blocks_stay_verbatim(void **state)
{
	static const char *const names[] = {"uproot-Zmumu-lzma.root", "uproot-Zmumu-zstd.root"};

	for (int i = 0; i < 2; i++) {
		struct file f;
		struct unwrap_plan *p;

		load_rootc(names[i], &f);
		p = scan(&f);
		assert_int_equal(p->format, UNWRAP_FORMAT_ROOT);
		assert_true(p->stats.streams_other >= 20);
		for (uint32_t k = 0; k < p->n_pieces; k++)
			if (p->pieces[k].kind != UNWRAP_VERBATIM)
				assert_int_not_equal(p->pieces[k].recipe.origin,
				                     UNWRAP_ORIGIN_NONE);
		/* Only the odd zlib key (the streamer info) of the LZMA file is unwrapped. */
		assert_true(p->stats.bytes_unwrapped < f.len / 10);
		assert_plan_recreates(p, f.data, f.len);
		unwrap_plan_free(p);
		free(f.data);
	}
}

/* A ROOT file cut anywhere (a partial download) is not parsed: fEND lies past its end. */
static void test_truncated_root_file_is_stored_plain(void **state)
{
	struct file f;

	load_rootc("uproot-Zmumu-zlib.root", &f);
	for (size_t cut = 0; cut < f.len; cut += cut < 256 ? 7 : f.len / 23) {
		struct file g = {.data = f.data, .len = cut};
		struct unwrap_plan *p = scan(&g);

		assert_int_equal(p->format, UNWRAP_FORMAT_PLAIN);
		assert_int_equal(p->n_pieces, cut ? 1 : 0);
		assert_int_equal(p->unwrapped_len, cut);
		if (cut >= 4)
			assert_true(p->fallback == UNWRAP_DAMAGED_HEADER);
		assert_plan_recreates(p, g.data, g.len);
		unwrap_plan_free(p);
	}
	free(f.data);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Garbage in the key table (here: fNbytes and fKeylen of keys, a block header's sizes) makes the
 * whole file plain, with the reason. */
static void test_garbage_key_table_is_stored_plain(void **state)
{
	struct file f;
	uint32_t begin;
	uint64_t keys[64];
	int nkeys = 0;

	load_rootc("uproot-Zmumu-zlib.root", &f);
	begin = be32(f.data + 8);
	/* The first keys, found the way a reader would. */
	for (uint64_t pos = begin; pos + 4 < f.len && nkeys < 64;) {
		int32_t nbytes = (int32_t)be32(f.data + pos);

		keys[nkeys++] = pos;
		pos += (uint64_t)(nbytes < 0 ? -(int64_t)nbytes : nbytes);
	}
	assert_true(nkeys > 10);
	for (int i = 0; i < nkeys; i++) {
		static const struct {
			int at;
			uint8_t xor ;
		} flips[] = {{0, 0x40}, {1, 0xff}, {3, 0x01}, {14, 0x7f}, {15, 0x03}};

		for (size_t k = 0; k < sizeof(flips) / sizeof(flips[0]); k++) {
			uint8_t *b = f.data + keys[i] + flips[k].at;
			struct unwrap_plan *p;

			*b ^= flips[k].xor ;
			p = scan(&f);
			assert_int_equal(p->fallback, UNWRAP_DAMAGED_KEYS);
			assert_int_equal(p->n_pieces, 1);
			assert_plan_recreates(p, f.data, f.len);
			unwrap_plan_free(p);
			*b ^= flips[k].xor ;
		}
	}
	free(f.data);
}

/* Bytes flipped anywhere (key headers, block headers, compressed data): never a crash, never a
 * plan that does not re-create the damaged file exactly. */
static void test_flipped_bytes_anywhere_never_give_a_wrong_plan(void **state)
{
	static const char *const names[] = {"uproot-Zmumu-zlib.root", "uproot-Zmumu-lz4.root",
	                                    "uproot-mc10events.root"};
	uint64_t s = 0x5eed;

	for (int n = 0; n < 3; n++) {
		struct file f;

		load_rootc(names[n], &f);
		/* 24 damaged copies per file: enough to hit key headers, block headers and
		 * streams; each scan is well under a second even under ASan. */
		for (int i = 0; i < 24; i++) {
			size_t at;
			uint8_t old;
			struct unwrap_plan *p;

			s = s * 6364136223846793005u + 1442695040888963407u;
			/* Half of them in the first 8 KiB, where the key headers are dense. */
			at = (size_t)(s >> 33) % (i % 2 ? f.len : 8192);
			old = f.data[at];
			f.data[at] ^= (uint8_t)(1u << (s >> 29 & 7));
			p = scan(&f);
			assert_plan_recreates(p, f.data, f.len);
			unwrap_plan_free(p);
			f.data[at] = old;
		}
		free(f.data);
	}
}

static void test_damaged_gzip_file_is_stored_plain(void **state)
{
	struct file f;
	struct unwrap_plan *p;
	struct file cut;

	load_rootc("pylhe-testfile-madgraph5-3.5.8-pp_to_jj.lhe.gz", &f);
	/* Cut: the deflate stream does not end. */
	cut = (struct file){.data = f.data, .len = f.len / 2};
	p = scan(&cut);
	assert_int_equal(p->fallback, UNWRAP_DAMAGED_STREAM);
	assert_int_equal(p->n_pieces, 1);
	assert_plan_recreates(p, cut.data, cut.len);
	unwrap_plan_free(p);
	/* A wrong CRC32 in the trailer. */
	f.data[f.len - 6] ^= 0x10;
	p = scan(&f);
	assert_int_equal(p->fallback, UNWRAP_DAMAGED_STREAM);
	assert_int_equal(p->n_pieces, 1);
	unwrap_plan_free(p);
	f.data[f.len - 6] ^= 0x10;
	/* A cut header. */
	cut.len = 12;
	p = scan(&cut);
	assert_int_equal(p->format, UNWRAP_FORMAT_PLAIN);
	assert_int_equal(p->fallback, UNWRAP_DAMAGED_HEADER);
	unwrap_plan_free(p);
	free(f.data);
}

/* A limit on the unwrapped bytes (a gzip bomb) leaves the file as it is. */
static void test_unwrapped_bytes_over_the_limit_stay_verbatim(void **state)
{
	struct unwrap_scan_opts opts = {.max_unwrapped = 2u << 20};
	struct unwrap_plan *p;
	struct file f;

	load_rootc("pylhe-testfile-madgraph5-3.5.8-pp_to_jj.lhe.gz", &f);
	assert_int_equal(unwrap_scan(f.data, f.len, &opts, &p), 0);
	assert_int_equal(p->fallback, UNWRAP_TOO_LARGE);
	assert_int_equal(p->n_pieces, 1);
	assert_int_equal(p->unwrapped_len, f.len);
	unwrap_plan_free(p);
	free(f.data);
	/* A ROOT file: the streams that fit are unwrapped, the rest stay. */
	load_rootc("uproot-issue121.root", &f);
	opts.max_unwrapped = f.len + 200000;
	assert_int_equal(unwrap_scan(f.data, f.len, &opts, &p), 0);
	assert_int_equal(p->fallback, UNWRAP_TOO_LARGE);
	assert_true(p->stats.streams_unwrapped > 0 &&
	            p->stats.streams_unwrapped < p->stats.streams);
	assert_true(p->unwrapped_len <= opts.max_unwrapped);
	assert_plan_recreates(p, f.data, f.len);
	unwrap_plan_free(p);
	free(f.data);
}

static void test_other_files_are_one_verbatim_piece(void **state)
{
	static uint8_t text[] = "<LesHouchesEvents version=\"3.0\">\n";
	struct file f = {.data = text, .len = sizeof(text) - 1};
	struct file empty = {.data = text, .len = 0};
	struct unwrap_plan *p = scan(&f);

	assert_int_equal(p->fallback, UNWRAP_NOT_CONTAINER);
	assert_int_equal(p->n_pieces, 1);
	assert_int_equal(p->pieces[0].kind, UNWRAP_VERBATIM);
	assert_int_equal(p->unwrapped_len, f.len);
	assert_int_equal(unwrap_plan_find(p, 0), 0);
	assert_int_equal(unwrap_plan_find(p, f.len - 1), 0);
	assert_int_equal(unwrap_plan_find(p, f.len), -ENOENT);
	unwrap_plan_free(p);
	p = scan(&empty);
	assert_int_equal(p->n_pieces, 0);
	assert_int_equal(unwrap_plan_find(p, 0), -ENOENT);
	unwrap_plan_free(p);
}

static void test_plan_find_returns_the_piece_holding_an_offset(void **state)
{
	struct file f;
	struct unwrap_plan *p;

	load_rootc("uproot-issue121.root", &f);
	p = scan(&f);
	for (uint32_t i = 0; i < p->n_pieces; i++) {
		const struct unwrap_piece *pc = &p->pieces[i];

		assert_int_equal(unwrap_plan_find(p, pc->off), i);
		assert_int_equal(unwrap_plan_find(p, pc->off + pc->len - 1), i);
	}
	unwrap_plan_free(p);
	free(f.data);
}

static void test_plan_serialization_round_trips(void **state)
{
	struct file f;
	struct unwrap_plan *p, *q;
	uint8_t *buf;
	size_t n, len;

	load_rootc("uproot-Zmumu-lz4.root", &f);
	p = scan(&f);
	n = unwrap_plan_encoded_size(p);
	buf = malloc(n);
	assert_int_equal(unwrap_plan_encode(p, buf, n - 1, &len), -EINVAL);
	assert_int_equal(unwrap_plan_encode(p, buf, n, &len), 0);
	assert_int_equal(len, n);
	assert_int_equal(unwrap_plan_decode(buf, len, &q), 0);
	assert_int_equal(q->file_len, p->file_len);
	assert_int_equal(q->unwrapped_len, p->unwrapped_len);
	assert_int_equal(q->format, p->format);
	assert_int_equal(q->fallback, p->fallback);
	assert_memory_equal(q->lib_version, p->lib_version, sizeof(p->lib_version));
	assert_memory_equal(q->canary, p->canary, sizeof(p->canary));
	assert_int_equal(q->n_pieces, p->n_pieces);
	for (uint32_t i = 0; i < p->n_pieces; i++)
		assert_true(unwrap_check_piece_equal(&q->pieces[i], &p->pieces[i]));
	/* The decoded plan alone re-creates the file. */
	assert_plan_recreates(q, f.data, f.len);
	unwrap_plan_free(q);
	unwrap_plan_free(p);
	free(buf);
	free(f.data);
}

static void test_damaged_serialized_plan_is_refused(void **state)
{
	struct file f;
	struct unwrap_plan *p, *q = NULL;
	uint8_t *buf;
	size_t n, len;

	load_rootc("uproot-Zmumu-zlib.root", &f);
	p = scan(&f);
	n = unwrap_plan_encoded_size(p);
	buf = malloc(n);
	assert_int_equal(unwrap_plan_encode(p, buf, n, &len), 0);
	/* Every single-bit flip of every byte (the checksum covers them all). */
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			int rc = unwrap_plan_decode(buf, len, &q);

			assert_true(rc == -EBADMSG || ((i == 4 || i == 5) && rc == -EPROTO));
			assert_null(q);
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* Every truncation. */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(unwrap_plan_decode(buf, cut, &q), -EBADMSG);
	/* A newer format version is refused as such. */
	buf[4] = 3;
	assert_int_equal(unwrap_plan_decode(buf, len, &q), -EPROTO);
	unwrap_plan_free(p);
	free(buf);
	free(f.data);
}

static void put_double(uint8_t *p, double x)
{
	uint64_t u;

	memcpy(&u, &x, 8);
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(u >> (56 - 8 * i));
}

/* Every record comes back bit for bit: short decimals, zeros of both signs, the ends of the
 * exponent range, and what is no short decimal (NaN, infinity, a subnormal, pi, random bits),
 * plus a tail that is no whole record. */
static void test_dec8_filter_round_trips_every_record(void **state)
{
	const double v[] = {44.7322,
	                    -1.05139,
	                    82.2018663875,
	                    0.0,
	                    -0.0,
	                    1e22,
	                    1e-22,
	                    123456789012345.0,
	                    0.1,
	                    -7e-5,
	                    1.0,
	                    3.0e300,
	                    M_PI,
	                    1.0 / 3.0,
	                    NAN,
	                    INFINITY,
	                    -INFINITY,
	                    4.9e-324,
	                    2.2250738585072014e-308};
	size_t nv = sizeof(v) / sizeof(v[0]), len = nv * 8 + 16 + 5, n = 0;
	uint8_t *raw = malloc(len), *f, *back = malloc(len);
	uint64_t x = 0x9e3779b97f4a7c15ull;

	assert_non_null(raw);
	assert_non_null(back);
	for (size_t i = 0; i < nv; i++)
		put_double(raw + 8 * i, v[i]);
	for (size_t i = nv * 8; i < len; i++) { /* random doubles and the tail */
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		raw[i] = (uint8_t)(x >> 56);
	}
	f = malloc(unwrap_filter_bound(UNWRAP_FILTER_DEC8, len));
	assert_non_null(f);
	assert_int_equal(unwrap_filter_apply(UNWRAP_FILTER_DEC8, raw, len, f, &n), 0);
	assert_true(n <= unwrap_filter_bound(UNWRAP_FILTER_DEC8, len));
	/* The short decimals take 8 bytes each: 44.7322 is 447322 x 10^-4. */
	assert_int_equal(f[0], 64 - 4);
	assert_int_equal(f[7], 447322 & 0xff);
	assert_int_equal(f[8], 0x80 | (64 - 5));
	assert_true(n > len); /* the NaN, infinities, ... cost a byte each */
	memset(back, 0xa5, len);
	assert_int_equal(unwrap_filter_invert(UNWRAP_FILTER_DEC8, f, n, back, len), 0);
	assert_memory_equal(back, raw, len);
	/* A wrong length or an exponent out of range is not such output. */
	assert_int_equal(unwrap_filter_invert(UNWRAP_FILTER_DEC8, f, n, back, len - 1), -EIO);
	assert_int_equal(unwrap_filter_invert(UNWRAP_FILTER_DEC8, f, n - 1, back, len), -EIO);
	f[0] = 64 + 23;
	assert_int_equal(unwrap_filter_invert(UNWRAP_FILTER_DEC8, f, n, back, len), -EIO);
	assert_int_equal(unwrap_filter_invert(UNWRAP_FILTER_COUNT, f, n, back, len), -EIO);
	free(raw);
	free(f);
	free(back);
}

/* The filter is chosen for arrays of short decimals only: not for random doubles (issue-1070's
 * baskets), integers or text. */
static void test_dec8_filter_is_chosen_for_short_decimals_only(void **state)
{
	size_t n = 1024, len = n * 8;
	uint8_t *raw = malloc(len);
	uint64_t x = 1;

	assert_non_null(raw);
	/* Values as parsed from print: the nearest double to a decimal of 3 to 5 digits. */
	for (size_t i = 0; i < n; i++)
		put_double(raw + 8 * i, ((double)(i * 7919 % 100000) - 50000.0) / 1000.0);
	assert_int_equal(unwrap_filter_choose(raw, len), UNWRAP_FILTER_DEC8);
	/* Too short to pay. */
	assert_int_equal(unwrap_filter_choose(raw, 64 * 8), UNWRAP_FILTER_NONE);
	for (size_t i = 0; i < n; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		put_double(raw + 8 * i, (double)(x >> 11) / 9007199254740992.0);
	}
	assert_int_equal(unwrap_filter_choose(raw, len), UNWRAP_FILTER_NONE);
	for (size_t i = 0; i < len; i += 4) { /* big-endian int32 counters */
		raw[i] = 0;
		raw[i + 1] = 0;
		raw[i + 2] = (uint8_t)(i >> 10);
		raw[i + 3] = (uint8_t)(i >> 2);
	}
	assert_int_equal(unwrap_filter_choose(raw, len), UNWRAP_FILTER_NONE);
	memset(raw, 'a', len);
	assert_int_equal(unwrap_filter_choose(raw, len), UNWRAP_FILTER_NONE);
	free(raw);
}

/* Zmumu's double baskets (printed values: 82.2018663875, 44.7322) are filtered; the plan says so
 * in version 2 and re-creates the file; a plan without filtered pieces stays version 1, which
 * older builds read. A version-2 plan with a filtered piece's bytes damaged is EIO. */
static void test_filtered_plans_are_version_2_and_recreate_the_file(void **state)
{
	struct file f, g;
	struct unwrap_plan *p, *q;
	uint8_t *buf, *u, *out;
	size_t n, len, filtered = 0;

	load_rootc("uproot-Zmumu-zlib.root", &f);
	p = scan(&f);
	for (uint32_t i = 0; i < p->n_pieces; i++)
		if (p->pieces[i].filter == UNWRAP_FILTER_DEC8) {
			filtered++;
			assert_true(p->pieces[i].raw_len % 8 == 0);
		}
	/* E, px, py, pz, pt, eta, phi of two muons and M: 15 branches of doubles. */
	assert_int_equal(filtered, 15);
	assert_plan_recreates(p, f.data, f.len);
	n = unwrap_plan_encoded_size(p);
	buf = malloc(n);
	assert_int_equal(unwrap_plan_encode(p, buf, n, &len), 0);
	assert_int_equal(buf[4] | buf[5] << 8, 2);
	assert_int_equal(unwrap_plan_decode(buf, len, &q), 0);
	for (uint32_t i = 0; i < p->n_pieces; i++)
		assert_true(unwrap_check_piece_equal(&q->pieces[i], &p->pieces[i]));
	assert_plan_recreates(q, f.data, f.len);
	/* A filtered piece whose bytes are damaged does not regenerate. */
	u = malloc(p->unwrapped_len);
	assert_int_equal(unwrap_plan_unwrap(p, f.data, f.len, u), 0);
	for (uint32_t i = 0; i < p->n_pieces; i++) {
		const struct unwrap_piece *pc = &p->pieces[i];

		if (!pc->filter)
			continue;
		out = malloc(pc->len);
		u[pc->unwrapped_off + pc->unwrapped_len / 2] ^= 0x01;
		assert_int_equal(unwrap_regenerate(pc, u + pc->unwrapped_off, out), -EIO);
		u[pc->unwrapped_off + pc->unwrapped_len / 2] ^= 0x01;
		free(out);
		break;
	}
	free(u);
	unwrap_plan_free(q);
	free(buf);
	/* issue-1070's baskets are random doubles: nothing filtered, version 1. */
	load_rootc("uproot-issue-1070.root", &g);
	unwrap_plan_free(p);
	p = scan(&g);
	for (uint32_t i = 0; i < p->n_pieces; i++)
		assert_int_equal(p->pieces[i].filter, UNWRAP_FILTER_NONE);
	n = unwrap_plan_encoded_size(p);
	buf = malloc(n);
	assert_int_equal(unwrap_plan_encode(p, buf, n, &len), 0);
	assert_int_equal(buf[4] | buf[5] << 8, 1);
	assert_int_equal(unwrap_plan_decode(buf, len, &q), 0);
	assert_plan_recreates(q, g.data, g.len);
	unwrap_plan_free(q);
	unwrap_plan_free(p);
	free(buf);
	free(f.data);
	free(g.data);
}

/* Zmumu's baskets are laid out by branch family: E1 next to E2, px1 next to px2, each with its
 * key header; the plan still re-creates the file, round-trips as version 2 with its order, and a
 * damaged order is refused. Small baskets (issue121) and gzip files stay in logical order. The
 * writer, which takes the unwrapped bytes in order, refuses a reordered plan. */
static void test_reorder_puts_branch_families_together(void **state)
{
	struct file f, g;
	struct unwrap_plan *p, *q;
	struct unwrap_writer *w = NULL;
	uint8_t *buf;
	size_t n, len;
	long e1, e2;

	load_rootc("uproot-Zmumu-zlib.root", &f);
	p = scan(&f);
	/* E1's basket is the stream at 7637 + 71 + 9, E2's at 80802 + 71 + 9 (key, block header).
	 */
	e1 = unwrap_plan_find(p, 7637 + 71 + 9);
	e2 = unwrap_plan_find(p, 80802 + 71 + 9);
	assert_true(e1 > 0 && e2 > e1 + 2);
	assert_int_equal(p->pieces[e1].kind, UNWRAP_ZLIB);
	assert_int_equal(p->pieces[e2].kind, UNWRAP_ZLIB);
	assert_int_equal(unwrap_plan_reorder(p, f.data, f.len), 0);
	assert_non_null(p->order);
	/* E2's key header right after E1's basket, then E2's basket. */
	assert_int_equal(p->pieces[e2 - 1].unwrapped_off,
	                 p->pieces[e1].unwrapped_off + p->pieces[e1].unwrapped_len);
	assert_int_equal(p->pieces[e2].unwrapped_off,
	                 p->pieces[e2 - 1].unwrapped_off + p->pieces[e2 - 1].unwrapped_len);
	assert_plan_recreates(p, f.data, f.len);
	assert_int_equal(unwrap_writer_new(p, NULL, NULL, &w), -EINVAL);
	n = unwrap_plan_encoded_size(p);
	buf = malloc(n);
	assert_int_equal(unwrap_plan_encode(p, buf, n, &len), 0);
	assert_int_equal(len, n);
	assert_int_equal(buf[4] | buf[5] << 8, 2);
	assert_int_equal(unwrap_plan_decode(buf, len, &q), 0);
	assert_non_null(q->order);
	assert_memory_equal(q->order, p->order, p->n_pieces * sizeof(*p->order));
	for (uint32_t i = 0; i < p->n_pieces; i++)
		assert_true(unwrap_check_piece_equal(&q->pieces[i], &p->pieces[i]));
	assert_plan_recreates(q, f.data, f.len);
	unwrap_plan_free(q);
	/* The order is the last thing before the checksum: make piece 0 appear twice (order
	 * entries of small plans are one byte each) and fix the checksum. */
	{
		uint8_t *o = buf + len - 8 - p->n_pieces;
		uint64_t h;

		assert_int_equal(o[-1], 1); /* ordered */
		o[1] = o[0];
		h = XXH64(buf, len - 8, 0);
		for (int i = 0; i < 8; i++)
			buf[len - 8 + i] = (uint8_t)(h >> (8 * i));
		assert_int_equal(unwrap_plan_decode(buf, len, &q), -EBADMSG);
		assert_null(q);
	}
	free(buf);
	unwrap_plan_free(p);
	/* Files that have nothing to reorder (small baskets, one gzip stream) keep their order. */
	static const char *const unordered[] = {"uproot-issue121.root",
	                                        "pylhe-testfile-madgraph5-3.5.8-pp_to_jj.lhe.gz"};
	for (size_t i = 0; i < sizeof(unordered) / sizeof(unordered[0]); i++) {
		load_rootc(unordered[i], &g);
		p = scan(&g);
		assert_int_equal(unwrap_plan_reorder(p, g.data, g.len), 0);
		assert_null(p->order);
		unwrap_plan_free(p);
		free(g.data);
	}
	free(f.data);
}

/* Damaged unwrapped bytes (a bad block of the store, a different library) never come back as
 * file bytes: regeneration checks the xxh64 of the logical bytes. */
static void test_regenerate_from_damaged_unwrapped_bytes_is_eio(void **state)
{
	struct file f;
	struct unwrap_plan *p;
	uint8_t *unwrapped, *out;
	int checked = 0;

	load_rootc("uproot-Zmumu-lz4.root", &f);
	p = scan(&f);
	unwrapped = malloc(p->unwrapped_len);
	out = malloc(f.len);
	assert_int_equal(unwrap_plan_unwrap(p, f.data, f.len, unwrapped), 0);
	for (uint32_t i = 0; i < p->n_pieces; i++) {
		const struct unwrap_piece *pc = &p->pieces[i];
		uint8_t *u = unwrapped + pc->unwrapped_off;

		if (pc->kind == UNWRAP_VERBATIM)
			continue;
		u[pc->unwrapped_len / 2] ^= 0x20;
		assert_int_equal(unwrap_regenerate(pc, u, out), -EIO);
		u[pc->unwrapped_len / 2] ^= 0x20;
		assert_int_equal(unwrap_regenerate(pc, u, out), 0);
		assert_memory_equal(out, f.data + pc->off, pc->len);
		checked++;
	}
	assert_true(checked >= 20);
	unwrap_plan_free(p);
	free(unwrapped);
	free(out);
	free(f.data);
}

/* A recipe that this library version would apply differently (faked: another level) is EIO, not
 * wrong data. */
static void test_regenerate_with_a_drifted_recipe_is_eio(void **state)
{
	struct file f;
	struct unwrap_plan *p;
	uint8_t *unwrapped, *out;

	load_rootc("uproot-Zmumu-zlib.root", &f);
	p = scan(&f);
	unwrapped = malloc(p->unwrapped_len);
	out = malloc(f.len);
	assert_int_equal(unwrap_plan_unwrap(p, f.data, f.len, unwrapped), 0);
	for (uint32_t i = 0; i < p->n_pieces; i++) {
		struct unwrap_piece pc = p->pieces[i];

		if (pc.kind != UNWRAP_ZLIB)
			continue;
		pc.recipe.level = pc.recipe.level == 9 ? 1 : 9;
		assert_int_equal(unwrap_regenerate(&pc, unwrapped + pc.unwrapped_off, out), -EIO);
	}
	unwrap_plan_free(p);
	free(unwrapped);
	free(out);
	free(f.data);
}

static void test_canary_names_the_library_a_plan_needs(void **state)
{
	struct file f;
	struct unwrap_plan *p;
	char msg[256] = "";
	uint64_t h1, h2;
	uint32_t v;

	assert_int_equal(unwrap_canary(UNWRAP_LIB_ZLIB, &h1, &v), 0);
	assert_int_equal(unwrap_canary(UNWRAP_LIB_ZLIB, &h2, &v), 0);
	assert_true(h1 == h2 && v != 0);
	assert_int_equal(unwrap_canary(UNWRAP_LIB_LZ4, &h2, &v), 0);
	assert_true(h1 != h2 && v != 0);
	assert_int_equal(unwrap_canary(UNWRAP_LIB_NONE, &h2, &v), -EINVAL);

	load_rootc("uproot-Zmumu-lz4.root", &f);
	p = scan(&f);
	assert_int_not_equal(p->lib_version[UNWRAP_LIB_LZ4], 0);
	assert_int_equal(unwrap_canary_check(p, msg, sizeof(msg)), 0);
	/* Faked: the plan was made by an lz4 1.7.1 whose output differs. */
	p->lib_version[UNWRAP_LIB_LZ4] = 1 << 16 | 7 << 8 | 1;
	p->canary[UNWRAP_LIB_LZ4] ^= 1;
	assert_int_equal(unwrap_canary_check(p, msg, sizeof(msg)), -ENOTSUP);
	printf("  %s\n", msg);
	assert_non_null(strstr(msg, "lz4 1.7.1"));
	unwrap_plan_free(p);
	free(f.data);
}

struct sink {
	uint8_t *buf;
	size_t len, cap;
};

static int sink_write(void *arg, const uint8_t *buf, size_t len)
{
	struct sink *s = arg;

	if (s->len + len > s->cap)
		return -ENOSPC;
	memcpy(s->buf + s->len, buf, len);
	s->len += len;
	return 0;
}

/* The unwrapped bytes fed in chunks of any size (a decoder's output) give back the file. */
static void test_writer_recreates_the_file_from_unwrapped_chunks(void **state)
{
	static const char *const names[] = {"uproot-Zmumu-lz4.root", "uproot-issue121.root"};
	static const size_t chunks[] = {1, 7, 4096, 128 << 10, SIZE_MAX};

	for (int n = 0; n < 2; n++) {
		struct file f;
		struct unwrap_plan *p;
		uint8_t *unwrapped;

		load_rootc(names[n], &f);
		p = scan(&f);
		unwrapped = malloc(p->unwrapped_len);
		assert_int_equal(unwrap_plan_unwrap(p, f.data, f.len, unwrapped), 0);
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
			struct sink s = {.buf = malloc(f.len), .cap = f.len};
			struct unwrap_writer *w;

			assert_int_equal(unwrap_writer_new(p, sink_write, &s, &w), 0);
			for (uint64_t off = 0; off < p->unwrapped_len;) {
				size_t k = chunks[c] < p->unwrapped_len - off
				               ? chunks[c]
				               : (size_t)(p->unwrapped_len - off);

				assert_int_equal(unwrap_writer_put(w, unwrapped + off, k), 0);
				off += k;
			}
			assert_int_equal(unwrap_writer_finish(w), 0);
			assert_int_equal(s.len, f.len);
			assert_memory_equal(s.buf, f.data, f.len);
			/* One byte too many. */
			assert_int_equal(unwrap_writer_put(w, unwrapped, 1), -EIO);
			unwrap_writer_free(w);
			free(s.buf);
		}
		unwrap_plan_free(p);
		free(unwrapped);
		free(f.data);
	}
}

static void test_writer_refuses_damaged_or_missing_unwrapped_bytes(void **state)
{
	struct file f;
	struct unwrap_plan *p;
	struct unwrap_writer *w;
	uint8_t *unwrapped;
	struct sink s;
	uint32_t i;

	load_rootc("uproot-Zmumu-zlib.root", &f);
	p = scan(&f);
	unwrapped = malloc(p->unwrapped_len);
	s = (struct sink){.buf = malloc(f.len), .cap = f.len};
	assert_int_equal(unwrap_plan_unwrap(p, f.data, f.len, unwrapped), 0);
	/* Cut short: finish says so. */
	assert_int_equal(unwrap_writer_new(p, sink_write, &s, &w), 0);
	assert_int_equal(unwrap_writer_put(w, unwrapped, p->unwrapped_len - 1), 0);
	assert_int_equal(unwrap_writer_finish(w), -EIO);
	unwrap_writer_free(w);
	/* A damaged byte inside the tenth stream: EIO, naming that piece. */
	for (i = 0; i < p->n_pieces && p->pieces[i].kind == UNWRAP_VERBATIM; i++)
		;
	i += 18;
	assert_true(i < p->n_pieces && p->pieces[i].kind != UNWRAP_VERBATIM);
	unwrapped[p->pieces[i].unwrapped_off + 5] ^= 1;
	s.len = 0;
	assert_int_equal(unwrap_writer_new(p, sink_write, &s, &w), 0);
	assert_int_equal(unwrap_writer_put(w, unwrapped, p->unwrapped_len), -EIO);
	assert_int_equal(unwrap_writer_piece(w), i);
	assert_true(s.len <= p->pieces[i].off);
	unwrap_writer_free(w);
	unwrap_plan_free(p);
	free(s.buf);
	free(unwrapped);
	free(f.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_rootc_file_is_recreated_byte_for_byte),
	    cmocka_unit_test(test_hep_samples_are_recreated_byte_for_byte),
	    cmocka_unit_test(test_zlib_lz4_and_gzip_files_unwrap_most_bytes),
	    cmocka_unit_test(test_lzma_and_zstd_blocks_stay_verbatim),
	    cmocka_unit_test(test_truncated_root_file_is_stored_plain),
	    cmocka_unit_test(test_garbage_key_table_is_stored_plain),
	    cmocka_unit_test(test_flipped_bytes_anywhere_never_give_a_wrong_plan),
	    cmocka_unit_test(test_damaged_gzip_file_is_stored_plain),
	    cmocka_unit_test(test_unwrapped_bytes_over_the_limit_stay_verbatim),
	    cmocka_unit_test(test_other_files_are_one_verbatim_piece),
	    cmocka_unit_test(test_plan_find_returns_the_piece_holding_an_offset),
	    cmocka_unit_test(test_plan_serialization_round_trips),
	    cmocka_unit_test(test_damaged_serialized_plan_is_refused),
	    cmocka_unit_test(test_dec8_filter_round_trips_every_record),
	    cmocka_unit_test(test_dec8_filter_is_chosen_for_short_decimals_only),
	    cmocka_unit_test(test_filtered_plans_are_version_2_and_recreate_the_file),
	    cmocka_unit_test(test_reorder_puts_branch_families_together),
	    cmocka_unit_test(test_regenerate_from_damaged_unwrapped_bytes_is_eio),
	    cmocka_unit_test(test_regenerate_with_a_drifted_recipe_is_eio),
	    cmocka_unit_test(test_canary_names_the_library_a_plan_needs),
	    cmocka_unit_test(test_writer_recreates_the_file_from_unwrapped_chunks),
	    cmocka_unit_test(test_writer_refuses_damaged_or_missing_unwrapped_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
