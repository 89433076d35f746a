/* bench-model — per-byte cost of the Mamba byte model (predict + update) for a few shapes, or
 * for the .boam files named on the command line, with each available kernel set. */
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

static void bench(const char *label, const uint8_t *img, size_t len)
{
	static const char *const kernels[] = {"scalar", "avx2"};
	for (int k = 0; k < 2; k++) {
		struct boa_model *m = NULL;
		struct boa_stream *s = NULL;
		uint32_t f[256], sink = 0;
		size_t n = 200000, params;
		int dim, layers;

		if (boa_model_load(img, len, &m, NULL, 0) || boa_model_set_kernels(m, kernels[k]) ||
		    boa_stream_new(m, &s)) {
			boa_model_free(m);
			continue;
		}
		boa_model_shape(m, &dim, &layers, &params);
		/* the best of 8 rounds: on a shared machine the minimum is the model's own cost */
		double dt = 1e30;
		n = 25000;
		for (int round = 0; round < 8; round++) {
			double t0 = now_s();
			for (size_t i = 0; i < n; i++) {
				boa_stream_predict(s, f);
				sink += f[i & 255];
				boa_stream_update(s, (uint8_t)(i * 2654435761u >> 13));
			}
			double t = now_s() - t0;
			dt = t < dt ? t : dt;
		}
		printf("%-24s dim %3d x %d layers %7zu params  %-6s  %6.3f us/byte  %7.1f KB/s%s\n",
		       label, dim, layers, params, kernels[k], dt / (double)n * 1e6,
		       (double)n / dt / 1000.0, sink == 1 ? " " : "");
		boa_stream_free(s);
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
