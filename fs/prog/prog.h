/* prog — what the sub-commands of `boa` share (prog.c), and the sub-commands themselves.
 * Each cmd_* takes its own argv (argv[0] is the sub-command's name) and returns the exit
 * status: 0, 1 on failure, 2 on a usage error. */
#ifndef BOAFS_PROG_H
#define BOAFS_PROG_H

#include <stdint.h>
#include <stdio.h>

#include "boa.h"
#include "boa_model.h"

#define BOA_CLI_VERSION BOAFS_VERSION /* meson's project version (-D, meson.build) */

/* Raw bytes per chunk of a .boa file unless -B says otherwise (cmd_codec.c). */
#define BOAF_CHUNK_DEFAULT ((uint32_t)4 << 20)

/* One line on stderr, "boa: " and the message. */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
double now_s(void);

/* ---- models ---- */

/* Models: -m FILE for every level that uses one, else the built-ins: "default" for the levels
 * that use one (5-9), "fast" kept for format-1 chunks of levels 2-3. A decoder takes whichever of
 * them has the chunk's model id. */
struct models {
	const char *path; /* -m */
	struct boa_model *user, *builtin[2];
	int tried_user, tried_builtin[2];
};

int models_require_user(struct models *ms);
int models_for_level(struct models *ms, int level, struct boa_model **out);
int models_by_id(struct models *ms, uint32_t id, struct boa_model **out);
void models_free(struct models *ms);
uint32_t model_id(const struct boa_model *m);

struct progress {
	int on;
	uint64_t total, done;
	double start, last;
};

void progress_init(struct progress *p, uint64_t total);
void progress_add(struct progress *p, uint64_t n);
void progress_end(struct progress *p);
/* "1:02:03", "2:03" or "0:03". */
void eta_text(char *buf, size_t cap, double seconds);

struct opts {
	int level;
	int threads;
	int verify;
	int force;
	uint32_t chunk;
	struct models models;
	int verbosity; /* 0 with -q, 1 by default, 2 with -v */
	int no_unwrap; /* boa compress --no-unwrap */
};

/* What `boa stats ARCHIVE|MOUNTPOINT|PATH` names (target.c). */
struct target {
	char *archive;    /* absolute */
	char *mountpoint; /* where it is mounted, or NULL */
	char *path;       /* a path below the mount point, or NULL for the whole archive */
	/* Mounted, but its pool recompresses nothing: a read-only mount, or -o recompress=off
	 * (which the daemon records in ARCHIVE/lock); NULL when the pool runs. */
	const char *pool_off;
	/* target_walk: the subtree's regular files, one inode number each */
	uint64_t *inos;
	size_t ninos;
	uint64_t files, dirs, file_bytes;
};

/* Finds the archive behind `arg`; says why not on stderr. */
int target_resolve(const char *arg, struct target *t);
/* Collects the inode numbers, counts and sizes of t->path's subtree, through the mount. */
int target_walk(struct target *t);
void target_free(struct target *t);

/* The usage text of `boa` (boa.c). */
void boa_usage(FILE *f);

int cmd_codec(int argc, char **argv, struct opts *o, int decompress);
int cmd_bench(int argc, char **argv, struct opts *o);
int cmd_train(int argc, char **argv);
/* The archive commands (cmd_archive.c). */
int cmd_stats(int argc, char **argv);
/* boa wait: boa stats --wait without the figures. */
int cmd_wait(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_models(int argc, char **argv);

#endif
