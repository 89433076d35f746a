/* boa — the BOA coder on plain files (compress, decompress, bench, train) and the archive
 * commands (stats, fsck, gc, models): one program, one dispatch of its sub-commands.
 *
 * Owns: the `boa` command line and its usage text.
 * Does not own: the sub-commands (cmd_*.c), the chunk coder (boa.h), models and training
 * (boa_model.h, boa_train.h), archives (fs/). */
#include <stdio.h>
#include <string.h>

#include "prog.h"

#define BOAF_VERSION 1

void boa_usage(FILE *f)
{
	fprintf(f,
	        "usage: boa compress [-1..-9] [-m MODEL] [-T N] [-B SIZE] [--verify] [-f] IN OUT\n"
	        "       boa decompress [-m MODEL] [-T N] [-f] IN OUT\n"
	        "       boa bench [--json] [-l LEVELS] [--no-peers] [-m MODEL] FILES...\n"
	        "       boa train FILES... -o MODEL [options]   (boa train --help)\n"
	        "       boa stats|fsck|gc|models ARCHIVE [options]   (archive commands)\n"
	        "       boa --help | --version\n"
	        "IN or OUT '-' is stdin or stdout. Level 1 needs no model; 2-9 mix in the Mamba\n"
	        "byte model (built-in 'fast' at 2-3, 'default' at 4-9, or -m MODEL).\n"
	        "Default level %d. See boa(1).\n",
	        BOA_LEVEL_DEFAULT);
}

int main(int argc, char **argv)
{
	struct opts o = {
	    .level = BOA_LEVEL_DEFAULT,
	    .threads = 1,
	    .chunk = BOAF_CHUNK_DEFAULT,
	};
	const char *cmd;
	int rc;

	if (argc < 2) {
		boa_usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		boa_usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		printf("boa %s (chunk format 1, container format %d)\n", BOA_CLI_VERSION,
		       BOAF_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "compress") || !strcmp(cmd, "decompress")) {
		rc = cmd_codec(argc - 1, argv + 1, &o, cmd[0] == 'd');
	} else if (!strcmp(cmd, "bench")) {
		rc = cmd_bench(argc - 1, argv + 1, &o);
	} else if (!strcmp(cmd, "train")) {
		return cmd_train(argc - 1, argv + 1);
	} else if (!strcmp(cmd, "stats") || !strcmp(cmd, "fsck") || !strcmp(cmd, "gc") ||
	           !strcmp(cmd, "models")) {
		/* Archive commands live with the file system (fs/fs_admin.c). */
		return cmd_archive(argc - 1, argv + 1);
	} else {
		fail("unknown command '%s' (see boa --help)", cmd);
		return 2;
	}
	models_free(&o.models);
	return rc;
}
