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

/* Is "ro" one of the comma-separated mount options? */
static int read_only(const char *options)
{
	for (const char *o = options; o; o = strchr(o, ',')) {
		if (*o == ',')
			o++;
		if (!strncmp(o, "ro", 2) && (!o[2] || o[2] == ','))
			return 1;
	}
	return 0;
}

/* Calls fn(arg, mountpoint, source, ro) for every boafs mount, until fn returns non-zero. */
static int boafs_mounts(int (*fn)(void *arg, const char *mnt, const char *source, int ro),
                        void *arg)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int rc = 0;

	while (f && !rc && getline(&line, &cap, f) > 0) {
		/* id parent major:minor root mountpoint options [optional...] - type source ... */
		char *field[6], *sep = strstr(line, " - "), *save = NULL;
		char *type, *source;
		int n = 0;

		if (!sep)
			continue;
		*sep = '\0';
		for (char *tok = strtok_r(line, " ", &save); tok && n < 6;
		     tok = strtok_r(NULL, " ", &save))
			field[n++] = tok;
		type = strtok_r(sep + 3, " ", &save);
		source = strtok_r(NULL, " ", &save);
		if (n < 6 || !type || !source || strcmp(type, "fuse.boafs"))
			continue;
		unescape(field[4]);
		unescape(source);
		rc = fn(arg, field[4], source, read_only(field[5]));
	}
	free(line);
	if (f)
		fclose(f);
	return rc;
}

struct mount_match {
	const char *archive, *recorded; /* the archive; the mountpoint its lock file names */
	char *mountpoint;
	int ro;
};

static int match_archive(void *arg, const char *mnt, const char *source, int ro)
{
	struct mount_match *m = arg;

	if (strcmp(source, m->archive) && !(m->recorded && !strcmp(mnt, m->recorded)))
		return 0;
	m->ro = ro;
	m->mountpoint = strdup(mnt);
	return m->mountpoint ? 1 : -ENOMEM;
}

/* An archive named by its directory may be mounted too: a mount whose source is the archive,
 * or (mounted by an older boafs, with another source) the mountpoint ARCHIVE/lock records, if
 * a boafs file system is mounted there. */
static int archive_mount(struct target *t)
{
	char path[PATH_MAX + 8], recorded[PATH_MAX + 2] = "";
	struct mount_match m = {t->archive, NULL, NULL, 0};
	FILE *lock;
	int rc;

	snprintf(path, sizeof(path), "%s/lock", t->archive);
	lock = fopen(path, "r");
	if (lock) {
		if (fgets(recorded, sizeof(recorded), lock)) {
			recorded[strcspn(recorded, "\n")] = '\0';
			m.recorded = recorded[0] ? recorded : NULL;
		}
		fclose(lock);
	}
	rc = boafs_mounts(match_archive, &m);
	if (rc < 0)
		return rc;
	t->mountpoint = m.mountpoint;
	t->pool_off = m.ro ? "mounted read-only" : NULL;
	return 0;
}

/* A writable daemon writes "MOUNTPOINT\nrecompress=on|off\n" into ARCHIVE/lock (fs_archive.c);
 * its pool is off when that line says so and the mountpoint is this mount's (not left over
 * from an earlier mount). An older daemon writes no such line: its pool is taken as on. */
static void pool_policy(struct target *t)
{
	char path[PATH_MAX + 8], recorded[PATH_MAX + 2], policy[64];
	FILE *lock;

	if (!t->mountpoint || t->pool_off)
		return;
	snprintf(path, sizeof(path), "%s/lock", t->archive);
	lock = fopen(path, "r");
	if (!lock)
		return;
	if (fgets(recorded, sizeof(recorded), lock) && fgets(policy, sizeof(policy), lock)) {
		recorded[strcspn(recorded, "\n")] = '\0';
		if (!strcmp(recorded, t->mountpoint) && !strcmp(policy, "recompress=off\n"))
			t->pool_off = "mounted with recompress=off";
	}
	fclose(lock);
}

struct path_match {
	const char *real;
	size_t best;
	struct target *t;
};

/* The deepest boafs mount at or above the path. */
static int match_path(void *arg, const char *mnt, const char *source, int ro)
{
	struct path_match *m = arg;
	size_t len = under(m->real, mnt);

	if (!len || len < m->best)
		return 0;
	m->best = len;
	free(m->t->mountpoint);
	free(m->t->archive);
	m->t->mountpoint = strdup(mnt);
	m->t->archive = strdup(source);
	m->t->pool_off = ro ? "mounted read-only" : NULL;
	return m->t->mountpoint && m->t->archive ? 0 : -ENOMEM;
}

int target_resolve(const char *arg, struct target *t)
{
	char real[PATH_MAX];
	struct path_match m = {real, 0, t};
	int rc;

	memset(t, 0, sizeof(*t));
	if (!realpath(arg, real)) {
		fail("%s: %s", arg, strerror(errno));
		return -errno;
	}
	rc = boafs_mounts(match_path, &m);
	if (rc)
		goto out;
	if (!t->mountpoint) {
		t->archive = strdup(real);
		rc = t->archive ? 0 : -ENOMEM;
		if (!rc)
			rc = archive_mount(t);
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
	else
		pool_policy(t);
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
