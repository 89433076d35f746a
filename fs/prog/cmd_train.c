/* cmd_train — `boa train FILES... -o MODEL [options]`: the options and the progress display of
 * the trainer (codec/boa_train.h does the training). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boa_train.h"
#include "prog.h"

static void train_usage(FILE *f)
{
	fprintf(f, "usage: boa train FILES... -o MODEL [options]\n"
	           "  -o, --output MODEL   the .boam file to write\n"
	           "  --dim N              model width, a multiple of 8 (default 32)\n"
	           "  --layers N           Mamba blocks (default 2)\n"
	           "  --seq-len N          truncated BPTT window in bytes (default 256)\n"
	           "  --epochs N           passes over the training data (default 10)\n"
	           "  --lr X               peak AdamW learning rate (default 0.003)\n"
	           "  --weight-decay X     AdamW decay of the matrices (default 0.01)\n"
	           "  --seed N             initialisation and shuffling seed (default 1)\n"
	           "  --threads N          worker threads (default: online CPUs)\n"
	           "  --val-split X        last fraction of each file held out (default 0.1)\n"
	           "  --batch N            streams per optimiser step (default 16)\n"
	           "  --stream-len N       bytes per stream, as the coder's chunks (default 8192)\n"
	           "  --max-time SECONDS   stop after this long (also 90s, 20m, 2h), validate and\n"
	           "                       write the model trained so far\n"
	           "  -v, --verbose        a line per epoch even when not on a terminal\n"
	           "Progress and an ETA on a terminal. See boa(1) for how long training takes.\n");
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < lo || v > hi)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (!*s || *end || !(v >= lo && v <= hi))
		return -EINVAL;
	*out = v;
	return 0;
}

/* Seconds, or a number with s, m or h. */
static int parse_duration(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end), unit = 1;

	if (end == s)
		return -EINVAL;
	if (*end == 's')
		end++;
	else if (*end == 'm')
		unit = 60, end++;
	else if (*end == 'h')
		unit = 3600, end++;
	if (*end || !(v > 0) || v * unit > 1e9)
		return -EINVAL;
	*out = v * unit;
	return 0;
}

struct train_display {
	int tty, verbose;
	double max_seconds;
};

/* The time left: at the rate so far, bounded by --max-time. */
static double train_eta(const struct train_display *d, const struct boa_train_progress *p)
{
	double done = ((p->epoch - 1) + p->epoch_fraction) / (p->epochs ? p->epochs : 1);
	double left = done > 0 ? p->seconds / done * (1 - done) : -1;

	if (d->max_seconds > 0 && (left < 0 || p->seconds + left > d->max_seconds))
		left = d->max_seconds - p->seconds;
	return d->max_seconds > 0 && left < 0 ? 0 : left;
}

static void train_progress(void *arg, const struct boa_train_progress *p)
{
	const struct train_display *d = arg;
	double left = train_eta(d, p);
	char eta[16] = "--:--";

	if (left >= 0)
		eta_text(eta, sizeof(eta), left);
	if (!p->epoch_done) {
		if (d->tty) {
			fprintf(
			    stderr,
			    "\repoch %d/%d  %5.1f%%  train %.3f bpb  lr %.2e  %.0f s  ETA %s   ",
			    p->epoch, p->epochs, 100.0 * p->epoch_fraction, p->train_bpb, p->lr,
			    p->seconds, eta);
			fflush(stderr);
		}
		return;
	}
	if (d->tty || d->verbose) {
		fprintf(stderr, "%sepoch %d/%d  train %.4f bpb  val %.4f bpb  %.0f s  ETA %s\n",
		        d->tty ? "\r\033[K" : "", p->epoch, p->epochs, p->train_bpb, p->val_bpb,
		        p->seconds, eta);
		fflush(stderr);
	}
}

int cmd_train(int argc, char **argv)
{
	enum {
		O_DIM = 256,
		O_LAYERS,
		O_SEQ,
		O_EPOCHS,
		O_THREADS,
		O_BATCH,
		O_STREAM,
		O_SEED,
		O_LR,
		O_WD,
		O_VAL,
		O_MAXTIME
	};
	static const struct option lopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"output", required_argument, NULL, 'o'},
	    {"dim", required_argument, NULL, O_DIM},
	    {"layers", required_argument, NULL, O_LAYERS},
	    {"seq-len", required_argument, NULL, O_SEQ},
	    {"epochs", required_argument, NULL, O_EPOCHS},
	    {"threads", required_argument, NULL, O_THREADS},
	    {"batch", required_argument, NULL, O_BATCH},
	    {"stream-len", required_argument, NULL, O_STREAM},
	    {"seed", required_argument, NULL, O_SEED},
	    {"lr", required_argument, NULL, O_LR},
	    {"weight-decay", required_argument, NULL, O_WD},
	    {"val-split", required_argument, NULL, O_VAL},
	    {"max-time", required_argument, NULL, O_MAXTIME},
	    {NULL, 0, NULL, 0},
	};
	struct boa_train_opts o;
	struct boa_train_result res;
	struct train_display disp = {0};
	char err[512];
	int opt, rc, seed = 1, li = -1;

	boa_train_opts_default(&o);
	optind = 1;
	opterr = 0;
	while ((li = -1, opt = getopt_long(argc, argv, ":hvo:", lopts, &li)) != -1) {
		int bad = 0;

		switch (opt) {
		case 'h':
			train_usage(stdout);
			return 0;
		case 'v':
			disp.verbose = 1;
			break;
		case 'o':
			o.out = optarg;
			break;
		case O_DIM:
			bad = parse_int(optarg, 8, 1024, &o.dim) || o.dim % 8;
			break;
		case O_LAYERS:
			bad = parse_int(optarg, 1, 16, &o.layers);
			break;
		case O_SEQ:
			bad = parse_int(optarg, 1, 1 << 16, &o.seq_len);
			break;
		case O_EPOCHS:
			bad = parse_int(optarg, 0, 1 << 20, &o.epochs);
			break;
		case O_THREADS:
			bad = parse_int(optarg, 1, 256, &o.threads);
			break;
		case O_BATCH:
			bad = parse_int(optarg, 1, 4096, &o.batch);
			break;
		case O_STREAM:
			bad = parse_int(optarg, 1, 1 << 30, &o.stream_len);
			break;
		case O_SEED:
			bad = parse_int(optarg, 0, 2147483647, &seed);
			o.seed = (uint64_t)seed;
			break;
		case O_LR:
			bad = parse_double(optarg, 0, 10, &o.lr);
			break;
		case O_WD:
			bad = parse_double(optarg, 0, 10, &o.wd);
			break;
		case O_VAL:
			bad = parse_double(optarg, 0, 0.9, &o.val_split);
			break;
		case O_MAXTIME:
			bad = parse_duration(optarg, &o.max_seconds);
			break;
		default:
			fail("train: unknown or incomplete option %s", argv[optind - 1]);
			train_usage(stderr);
			return 2;
		}
		if (bad) {
			fail("train: bad value for --%s: %s", li >= 0 ? lopts[li].name : "output",
			     optarg);
			return 2;
		}
	}
	if (optind >= argc || !o.out) {
		train_usage(stderr);
		return 2;
	}
	disp.tty = isatty(STDERR_FILENO);
	disp.max_seconds = o.max_seconds;
	o.progress = train_progress;
	o.progress_arg = &disp;
	rc = boa_train(&o, (const char *const *)argv + optind, argc - optind, &res, err,
	               sizeof(err));
	if (rc) {
		fail("train: %s", err[0] ? err : strerror(-rc));
		return 1;
	}
	if (res.out_of_time)
		fprintf(stderr, "boa: train: --max-time %.0f s ran out in epoch %d of %d\n",
		        o.max_seconds, res.epochs_run, o.epochs);
	printf("boa train: %s: dim %d, %d layers, %zu params, %zu train / %zu val bytes, "
	       "%d epochs (%zu steps, %.0f s): train %.4f bpb, val %.4f bpb, model id %08x\n",
	       o.out, o.dim, o.layers, res.params, res.train_bytes, res.val_bytes, res.epochs_run,
	       res.steps, res.seconds, res.train_bpb, res.val_bpb, res.model_id);
	return 0;
}
