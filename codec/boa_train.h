/* boa_train — `boa train`: trains a Mamba byte model (.boam) on sample files, on the CPU.
 *
 * Owns: the training forward and backward pass (float64, the same network as boa_model.c),
 * AdamW, truncated back-propagation through time, the split into train and validation data,
 * and the progress display. Validation bits per byte are measured with the inference path
 * (boa_stream_predict's quantised frequencies), so they are what the coder will see.
 * Does not own: the model file format or inference (boa_model.h).
 * Determinism: the same files, options and seed give a byte-identical model, whatever --threads
 * (each sequence of a batch has its own gradient; they are summed in sequence order).
 * Threads: opts.threads worker threads for the duration of the call.
 * Errors: 0, or a negative errno with a one-line reason in `err` where there is more to say.
 * Does not own: option parsing, the progress display, messages (fs/prog/cmd_train.c). */
#ifndef BOAFS_BOA_TRAIN_H
#define BOAFS_BOA_TRAIN_H

#include <stddef.h>
#include <stdint.h>

struct boa_train_progress {
	int epoch, epochs;     /* 1-based epoch under way, and how many there are */
	double epoch_fraction; /* of this epoch's training bytes seen, 0..1 */
	double train_bpb;      /* this epoch's mean so far */
	double val_bpb;        /* epoch_done only */
	double lr;             /* the step's learning rate (not on epoch_done) */
	double seconds;        /* since training started */
	int epoch_done;        /* the epoch ended, validated and was checkpointed to opts.out */
};

struct boa_train_opts {
	const char *out; /* the .boam file to write, checkpointed after every epoch */
	int dim, layers, seq_len, epochs, threads, batch, stream_len;
	double lr, val_split, wd;
	uint64_t seed;
	/* > 0: stop once training has run this long (checked after every step), then validate
	 * and write the model as at an epoch's end. The learning-rate schedule still spans
	 * `epochs`, and the result depends on the machine's speed: not deterministic. */
	double max_seconds;
	/* Called from the training thread every few steps and at each epoch's end. */
	void (*progress)(void *arg, const struct boa_train_progress *p);
	void *progress_arg;
};

struct boa_train_result {
	uint32_t model_id;
	size_t params, train_bytes, val_bytes, steps;
	int epochs_run;  /* epochs started; the last may be partial when out_of_time */
	int out_of_time; /* max_seconds ran out before the last epoch ended */
	double seconds, train_bpb, val_bpb;
};

/* The defaults of every option (threads: the online CPUs, at most 64); out stays NULL. */
void boa_train_opts_default(struct boa_train_opts *o);
/* Trains a model on `files` and writes it to opts->out. */
int boa_train(const struct boa_train_opts *opts, const char *const *files, int nfiles,
              struct boa_train_result *res, char *err, size_t errlen);

/* ---- for the model tests: the training network on float64 parameters in .boam order ---- */

struct boa_train_net;

int boa_train_net_new(int dim, int layers, struct boa_train_net **out);
void boa_train_net_free(struct boa_train_net *n);
size_t boa_train_net_params(const struct boa_train_net *n);
double *boa_train_net_weights(struct boa_train_net *n);
/* The i-th parameter group ("embedding", "layer0.in_proj.weight", ...): its name, offset and
 * length in the weights; -ENOENT past the last. `name` has room for 64 bytes. */
int boa_train_net_group(const struct boa_train_net *n, int i, char *name, size_t *off, size_t *len);
/* Mamba-style initialisation from `seed`. */
void boa_train_net_init(struct boa_train_net *n, uint64_t seed);
/* Loss (sum over t of -ln p(target[t]), nats) of one window from a zero state, started with
 * byte 0 as BOA streams are: inputs are 0, bytes[0..len-2], targets bytes[0..len-1].
 * When grad is not NULL it receives d loss / d weights (P doubles, overwritten). */
double boa_train_net_loss(struct boa_train_net *n, const uint8_t *bytes, int len, double *grad);
/* The .boam image of the network (weights rounded to float32). */
int boa_train_net_encode(const struct boa_train_net *n, uint8_t **out, size_t *out_len);
/* Bits per byte that the inference path gives a .boam image over `data` cut into streams of
 * `stream_len` bytes (each from a fresh state), on `threads` threads. */
int boa_train_eval_bpb(const uint8_t *model, size_t model_len, const uint8_t *data, size_t len,
                       size_t stream_len, int threads, double *bpb);

#endif
