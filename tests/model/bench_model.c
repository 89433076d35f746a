/* bench-model — throughput of the Mamba byte model (predict + update) for a few shapes, or for
 * the .boam files named on the command line, with each available kernel set: one stream
 * (boa_stream_*) side by side with 4, 8 and 16 streams stepped together (boa_streams_*). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boa_model.h"
#include "boa_model_impl.h"
#include "boa_train.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define BATCH_MAX 16

/* Seconds for `total` bytes through `nb` streams stepped together (nb == 0: one stream with
 * boa_stream_predict/update), the best of 8 rounds: on a shared machine the minimum is the
 * model's own cost. */
static double run(struct boa_stream **s, int nb, size_t total, uint32_t *sink)
{
	static uint32_t f[BATCH_MAX][256];
	uint8_t bytes[BATCH_MAX];
	double best = 1e30;

	for (int round = 0; round < 8; round++) {
		double t0 = now_s();
		if (nb == 0) {
			for (size_t i = 0; i < total; i++) {
				boa_stream_predict(s[0], f[0]);
				*sink += f[0][i & 255];
				boa_stream_update(s[0], (uint8_t)(i * 2654435761u >> 13));
			}
		} else {
			for (size_t i = 0; i < total / (size_t)nb; i++) {
				boa_streams_predict(s, nb, f);
				for (int j = 0; j < nb; j++) {
					*sink += f[j][i & 255];
					bytes[j] = (uint8_t)((i * nb + j) * 2654435761u >> 13);
				}
				boa_streams_update(s, nb, bytes);
			}
		}
		double t = now_s() - t0;
		best = t < best ? t : best;
	}
	return best;
}

static void bench(const char *label, const uint8_t *img, size_t len)
{
	static const char *const kernels[] = {"scalar", "avx2"};
	static const int batches[] = {4, 8, 16};
	for (int k = 0; k < 2; k++) {
		struct boa_model *m = NULL;
		struct boa_stream *s[BATCH_MAX] = {NULL};
		uint32_t sink = 0;
		size_t total, params;
		int dim, layers, ok = 1;

		if (boa_model_load(img, len, &m, NULL, 0) || boa_model_set_kernels(m, kernels[k])) {
			boa_model_free(m);
			continue;
		}
		for (int j = 0; j < BATCH_MAX; j++)
			ok = ok && !boa_stream_new(m, &s[j]);
		if (!ok)
			goto next;
		boa_model_shape(m, &dim, &layers, &params);
		/* about the same time per shape: fewer bytes for the larger models */
		total = 24000 * 256 / ((size_t)dim * dim * layers);
		total = total < 1600 ? 1600 : total > 24000 ? 24000 : total & ~(size_t)15;
		double single = run(s, 0, total, &sink);
		printf("%-20s d%-3d x%d %7zu params  %-6s  single %7.1f KB/s", label, dim, layers,
		       params, kernels[k], (double)total / single / 1000.0);
		for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
			double t = run(s, batches[b], total, &sink);
			printf("  x%-2d %7.1f KB/s (%.2fx)", batches[b], (double)total / t / 1000.0,
			       single / t);
		}
		printf("%s\n", sink == 1 ? " " : "");
		fflush(stdout);
	next:
		for (int j = 0; j < BATCH_MAX; j++)
			boa_stream_free(s[j]);
		boa_model_free(m);
	}
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			FILE *fp = fopen(argv[i], "rb");
			if (!fp)
				continue;
			uint8_t *b = malloc(8 << 20);
			size_t len = fread(b, 1, 8 << 20, fp);
			fclose(fp);
			bench(argv[i], b, len);
			free(b);
		}
		return 0;
	}
	static const int shapes[][2] = {{16, 1}, {32, 1}, {32, 2}, {48, 2}, {64, 2}, {128, 2}};
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		struct boa_train_net *n = NULL;
		uint8_t *img = NULL;
		size_t len;
		if (boa_train_net_new(shapes[i][0], shapes[i][1], &n))
			return 1;
		boa_train_net_init(n, 1);
		boa_train_net_encode(n, &img, &len);
		bench("random", img, len);
		free(img);
		boa_train_net_free(n);
	}
	return 0;
}
