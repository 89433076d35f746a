/* target — what `boa stats ARCHIVE|MOUNTPOINT|PATH` names: an archive directory, the mount
 * point of a boafs file system, or a path inside one (its subtree). A mount is found in
 * /proc/self/mountinfo (type fuse.boafs); its source names the archive (boafs mounts with
 * fsname=ARCHIVE). A subtree's inode numbers are collected by walking it through the mount:
 * boafs reports its own inode numbers as st_ino. */
#include <errno.h>
#include <fts.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "prog.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 | (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* Is `mnt` the path `p` or a directory above it? */
static size_t under(const char *p, const char *mnt)
{
	size_t n = strlen(mnt);

	if (!strcmp(mnt, "/"))
		return 1;
	if (strncmp(p, mnt, n) || (p[n] && p[n] != '/'))
		return 0;
	return n;
}

int target_resolve(const char *arg, struct target *t)
{
	char real[PATH_MAX], *line = NULL;
	size_t cap = 0, best = 0;
	FILE *f;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	if (!realpath(arg, real)) {
		fail("%s: %s", arg, strerror(errno));
		return -errno;
	}
	f = fopen("/proc/self/mountinfo", "r");
	while (f && getline(&line, &cap, f) > 0) {
		/* id parent major:minor root mountpoint options [optional...] - type source ... */
		char *field[6], *sep = strstr(line, " - "), *save = NULL;
		char *type, *source;
		int n = 0;
		size_t len;

		if (!sep)
			continue;
		*sep = '\0';
		for (char *tok = strtok_r(line, " ", &save); tok && n < 6;
		     tok = strtok_r(NULL, " ", &save))
			field[n++] = tok;
		type = strtok_r(sep + 3, " ", &save);
		source = strtok_r(NULL, " ", &save);
		if (n < 5 || !type || !source || strcmp(type, "fuse.boafs"))
			continue;
		unescape(field[4]);
		unescape(source);
		len = under(real, field[4]);
		if (len && len >= best) {
			best = len;
			free(t->mountpoint);
			free(t->archive);
			t->mountpoint = strdup(field[4]);
			t->archive = strdup(source);
			if (!t->mountpoint || !t->archive) {
				rc = -ENOMEM;
				break;
			}
		}
	}
	free(line);
	if (f)
		fclose(f);
	if (rc)
		goto out;
	if (!t->mountpoint) {
		t->archive = strdup(real);
		rc = t->archive ? 0 : -ENOMEM;
		goto out;
	}
	if (t->archive[0] != '/') {
		fail("%s is a boafs mount, but its source ('%s') does not name the archive; give "
		     "the archive directory instead",
		     t->mountpoint, t->archive);
		rc = -ENOENT;
		goto out;
	}
	if (strcmp(real, t->mountpoint)) {
		t->path = strdup(real);
		rc = t->path ? 0 : -ENOMEM;
	}
out:
	if (rc)
		target_free(t);
	return rc;
}

void target_free(struct target *t)
{
	free(t->archive);
	free(t->mountpoint);
	free(t->path);
	free(t->inos);
	memset(t, 0, sizeof(*t));
}

struct ino_size {
	uint64_t ino, size;
};

static int ino_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct ino_size *)a)->ino, y = ((const struct ino_size *)b)->ino;

	return x < y ? -1 : x > y;
}

int target_walk(struct target *t)
{
	char *roots[] = {t->path, NULL};
	struct ino_size *seen = NULL;
	size_t cap = 0, n = 0;
	FTS *fts;
	FTSENT *e;
	int rc = 0;

	t->ninos = t->files = t->dirs = t->file_bytes = 0;
	fts = fts_open(roots, FTS_PHYSICAL | FTS_XDEV | FTS_NOCHDIR, NULL);
	if (!fts) {
		fail("%s: %s", t->path, strerror(errno));
		return -errno;
	}
	while ((e = fts_read(fts))) {
		if (e->fts_info == FTS_DNR || e->fts_info == FTS_ERR || e->fts_info == FTS_NS) {
			fail("%s: %s", e->fts_path, strerror(e->fts_errno));
			rc = -e->fts_errno;
			break;
		}
		if (e->fts_info == FTS_D) {
			t->dirs++;
			continue;
		}
		if (e->fts_info != FTS_F)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct ino_size *bigger = realloc(seen, ncap * sizeof(*bigger));

			if (!bigger) {
				rc = -ENOMEM;
				break;
			}
			seen = bigger;
			cap = ncap;
		}
		seen[n].ino = (uint64_t)e->fts_statp->st_ino;
		seen[n++].size = (uint64_t)e->fts_statp->st_size;
	}
	fts_close(fts);
	free(t->inos);
	t->inos = rc ? NULL : malloc((n ? n : 1) * sizeof(*t->inos));
	if (!rc && !t->inos)
		rc = -ENOMEM;
	if (rc) {
		free(seen);
		return rc;
	}
	/* A file with several names inside the subtree counts once, as du counts it. */
	qsort(seen, n, sizeof(*seen), ino_cmp);
	for (size_t i = 0; i < n; i++) {
		if (t->ninos && t->inos[t->ninos - 1] == seen[i].ino)
			continue;
		t->inos[t->ninos++] = seen[i].ino;
		t->file_bytes += seen[i].size;
	}
	t->files = t->ninos;
	free(seen);
	return 0;
}
