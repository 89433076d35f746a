/* boa — the BOA coder on plain files (compress, decompress, bench, train) and the archive
 * commands (stats, fsck, gc, models): one program, one dispatch of its sub-commands.
 *
 * Owns: the `boa` command line and its usage text.
 * Does not own: the sub-commands (cmd_*.c), the chunk coder (boa.h), models and training
 * (boa_model.h, boa_train.h), archives (fs/). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "fs_log.h"
#include "prog.h"

#define BOAF_VERSION 1

void boa_usage(FILE *f)
{
	fprintf(f,
	        "usage: boa compress [-1..-9] [-d] [-t] [-k|--rm] [-c|-o OUT] [-f] [-q|-v] [-T N]\n"
	        "                    [-B SIZE] [-m MODEL] [--verify] [FILE...]\n"
	        "       boa decompress [-t] [-k|--rm] [-c|-o OUT] [-f] [-q|-v] [-T N] [-m MODEL] "
	        "[FILE...]\n"
	        "       boa compress [options] IN OUT.boa,  boa decompress [options] IN OUT\n"
	        "       boa bench [--json] [-l LEVELS] [--no-peers] [-m MODEL] FILES...\n"
	        "       boa train FILES... -o MODEL [--max-time SECONDS] [options]\n"
	        "       boa stats ARCHIVE|MOUNTPOINT|PATH [--json] [--wait] [options]\n"
	        "       boa wait ARCHIVE|MOUNTPOINT|PATH\n"
	        "       boa fsck|gc|models ARCHIVE [options]\n"
	        "       boa --help | -V | --version      (boa COMMAND --help for each)\n"
	        "FILE becomes FILE.boa and back, as with zstd; '-' is stdin to stdout. -T0 uses\n"
	        "every CPU, with the same output bytes. Levels 1-4 need no model; 5-9 mix in\n"
	        "the Mamba byte model (built-in 'default', or -m MODEL).\n"
	        "Default level %d. See boa(1).\n",
	        BOA_LEVEL_DEFAULT);
}

/* Codec commands share the -m models they load; each run frees them. */
static int run_codec(int argc, char **argv, int (*fn)(int, char **, struct opts *, int), int dec)
{
	struct opts o = {
	    .level = BOA_LEVEL_DEFAULT,
	    .threads = 1,
	    .chunk = BOAF_CHUNK_DEFAULT,
	};
	int rc = fn(argc, argv, &o, dec);

	models_free(&o.models);
	return rc;
}

static int run_compress(int argc, char **argv)
{
	return run_codec(argc, argv, cmd_codec, 0);
}

static int run_decompress(int argc, char **argv)
{
	return run_codec(argc, argv, cmd_codec, 1);
}

static int bench_adapter(int argc, char **argv, struct opts *o, int unused)
{
	return cmd_bench(argc, argv, o);
}

static int run_bench(int argc, char **argv)
{
	return run_codec(argc, argv, bench_adapter, 0);
}

/* The sub-commands: argv[0] is the sub-command's name when it runs. */
static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
    {"compress", run_compress},
    {"decompress", run_decompress},
    {"bench", run_bench},
    {"train", cmd_train},
    {"stats", cmd_stats},
    {"fsck", cmd_fsck},
    {"gc", cmd_gc},
    {"models", cmd_models},
    {"wait", cmd_wait},
};

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2) {
		boa_usage(stderr);
		return 2;
	}
	cmd = argv[1];
	/* Sub-commands say what is wrong with their options themselves, and the archive code's
	 * messages too are prefixed "boa:". */
	opterr = 0;
	fs_log_program("boa");
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		boa_usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf("boa %s (chunk format %d, container format %d)\n", BOA_CLI_VERSION,
		       BOA_CHUNK_VERSION, BOAF_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(cmd, commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fail("unknown command '%s' (see boa --help)", cmd);
	return 2;
}
