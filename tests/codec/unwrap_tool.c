/* unwrap_tool — the unwrap library (codec/unwrap.h) from the shell, for tests and
 * examples/bench-unwrap.sh; not installed.
 *
 *   unwrap_tool plan FILE                       what a scan finds, one line, and its CPU time
 *   unwrap_tool unwrap FILE UNWRAPPED PLAN      writes the unwrapped bytes, in the layout the
 *                                               daemon stores, and the serialized plan
 *   unwrap_tool regenerate PLAN UNWRAPPED OUT   re-creates the file from them
 * Exit status 0, or 1 with a line on stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "unwrap.h"

static int slurp(const char *path, uint8_t **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
		fclose(f);
		return -EIO;
	}
	rewind(f);
	*len = (size_t)n;
	*data = malloc(*len ? *len : 1);
	if (!*data) {
		fclose(f);
		return -ENOMEM;
	}
	if (fread(*data, 1, *len, f) != *len) {
		fclose(f);
		free(*data);
		return -EIO;
	}
	fclose(f);
	return 0;
}

static int spill(const char *path, const uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int rc = 0;

	if (!f)
		return -errno;
	if (fwrite(data, 1, len, f) != len)
		rc = -EIO;
	if (fclose(f) != 0 && !rc)
		rc = -EIO;
	return rc;
}

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_plan(const char *path, const char *unwrapped_path, const char *plan_path)
{
	struct unwrap_plan *p = NULL;
	uint8_t *data = NULL, *unwrapped = NULL, *enc = NULL;
	size_t len, enc_len;
	double t0;
	int rc;

	rc = slurp(path, &data, &len);
	if (rc) {
		fprintf(stderr, "unwrap_tool: %s: %s\n", path, strerror(-rc));
		return 1;
	}
	t0 = cpu_seconds();
	rc = unwrap_scan(data, len, NULL, &p);
	if (rc) {
		fprintf(stderr, "unwrap_tool: %s: scan: %s\n", path, strerror(-rc));
		goto out;
	}
	printf("%s: %zu bytes, %s, %u of %u streams re-created (%u other), %.1f%% of the bytes "
	       "unwrapped, %llu unwrapped bytes, %llu recipe tries, %.3f CPU s\n",
	       path, len, unwrap_fallback_str(p->fallback), p->stats.streams_unwrapped,
	       p->stats.streams, p->stats.streams_other,
	       len ? 100.0 * (double)p->stats.bytes_unwrapped / (double)len : 0.0,
	       (unsigned long long)p->unwrapped_len, (unsigned long long)p->stats.recipe_tries,
	       cpu_seconds() - t0);
	if (!unwrapped_path)
		goto out;
	/* The layout boafs stores (baskets of one branch family side by side). */
	rc = unwrap_plan_reorder(p, data, len);
	if (rc) {
		fprintf(stderr, "unwrap_tool: %s: reorder: %s\n", path, strerror(-rc));
		goto out;
	}
	unwrapped = malloc(p->unwrapped_len ? p->unwrapped_len : 1);
	enc_len = unwrap_plan_encoded_size(p);
	enc = malloc(enc_len);
	if (!unwrapped || !enc) {
		rc = -ENOMEM;
		goto out;
	}
	rc = unwrap_plan_unwrap(p, data, len, unwrapped);
	if (!rc)
		rc = unwrap_plan_encode(p, enc, enc_len, &enc_len);
	if (!rc)
		rc = spill(unwrapped_path, unwrapped, p->unwrapped_len);
	if (!rc)
		rc = spill(plan_path, enc, enc_len);
	if (rc)
		fprintf(stderr, "unwrap_tool: %s: %s\n", path, strerror(-rc));
out:
	unwrap_plan_free(p);
	free(data);
	free(unwrapped);
	free(enc);
	return rc ? 1 : 0;
}

static int cmd_regenerate(const char *plan_path, const char *unwrapped_path, const char *out_path)
{
	struct unwrap_plan *p = NULL;
	uint8_t *enc = NULL, *unwrapped = NULL, *out = NULL;
	size_t enc_len, unwrapped_len;
	char msg[256];
	int rc;

	rc = slurp(plan_path, &enc, &enc_len);
	if (!rc)
		rc = unwrap_plan_decode(enc, enc_len, &p);
	if (rc) {
		fprintf(stderr, "unwrap_tool: %s: %s\n", plan_path, strerror(-rc));
		goto out;
	}
	rc = unwrap_canary_check(p, msg, sizeof(msg));
	if (rc) {
		fprintf(stderr, "unwrap_tool: %s: %s\n", plan_path,
		        rc == -ENOTSUP ? msg : strerror(-rc));
		goto out;
	}
	rc = slurp(unwrapped_path, &unwrapped, &unwrapped_len);
	if (!rc && unwrapped_len != p->unwrapped_len)
		rc = -EINVAL;
	if (rc) {
		fprintf(stderr, "unwrap_tool: %s: %s\n", unwrapped_path, strerror(-rc));
		goto out;
	}
	out = malloc(p->file_len ? p->file_len : 1);
	if (!out) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < p->n_pieces && !rc; i++) {
		const struct unwrap_piece *pc = &p->pieces[i];

		rc = unwrap_regenerate(pc, unwrapped + pc->unwrapped_off, out + pc->off);
		if (rc) {
			char r[128];

			unwrap_recipe_str(&pc->recipe, r, sizeof(r));
			fprintf(stderr, "unwrap_tool: piece %u (offset %llu, %s): %s\n", i,
			        (unsigned long long)pc->off, r, strerror(-rc));
		}
	}
	if (!rc) {
		rc = spill(out_path, out, p->file_len);
		if (rc)
			fprintf(stderr, "unwrap_tool: %s: %s\n", out_path, strerror(-rc));
	}
out:
	unwrap_plan_free(p);
	free(enc);
	free(unwrapped);
	free(out);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "plan") == 0)
		return cmd_plan(argv[2], NULL, NULL);
	if (argc == 5 && strcmp(argv[1], "unwrap") == 0)
		return cmd_plan(argv[2], argv[3], argv[4]);
	if (argc == 5 && strcmp(argv[1], "regenerate") == 0)
		return cmd_regenerate(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: unwrap_tool plan FILE\n"
	                "       unwrap_tool unwrap FILE UNWRAPPED PLAN\n"
	                "       unwrap_tool regenerate PLAN UNWRAPPED OUT\n");
	return 2;
}
