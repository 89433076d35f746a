/* The archive's model registry: .boam files kept in the index's `models` database, loaded on
 * first use and shared by every thread; meta `current_model` names the one new recompressions
 * use. A model stays in the database while any block names it (fsck checks this). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boa.h"
#include "boa_model.h"
#include "fs.h"
#include "fs_log.h"
#include "fs_model.h"
#include "fs_txn.h"

#define META_CURRENT_MODEL "current_model"

struct model_entry {
	uint32_t id;
	struct boa_model *model;
};

struct fs_models {
	pthread_mutex_t lock;
	struct model_entry *entries;
	size_t count, cap;
};

int fs_models_new(struct fs_models **out)
{
	struct fs_models *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	*out = r;
	return 0;
}

void fs_models_free(struct fs_models *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->count; i++)
		boa_model_free(r->entries[i].model);
	free(r->entries);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static struct boa_model *find_loaded(struct fs_models *r, uint32_t id)
{
	for (size_t i = 0; i < r->count; i++)
		if (r->entries[i].id == id)
			return r->entries[i].model;
	return NULL;
}

/* Keeps `m` (taking ownership) unless another thread loaded the same id first. */
static const struct boa_model *remember(struct fs_models *r, uint32_t id, struct boa_model *m)
{
	struct boa_model *known;

	pthread_mutex_lock(&r->lock);
	known = find_loaded(r, id);
	if (!known && r->count == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 4;
		struct model_entry *bigger = realloc(r->entries, cap * sizeof(*bigger));

		if (bigger) {
			r->entries = bigger;
			r->cap = cap;
		}
	}
	if (!known && r->count < r->cap) {
		r->entries[r->count++] = (struct model_entry){id, m};
		known = m;
		m = NULL;
	}
	pthread_mutex_unlock(&r->lock);
	boa_model_free(m);
	return known;
}

int fs_model_get(struct fs *fs, uint32_t id, const struct boa_model **out)
{
	struct idx_txn *t = NULL;
	struct boa_model *m = NULL;
	const void *bytes;
	char err[200];
	size_t len;
	int rc;

	pthread_mutex_lock(&fs->models->lock);
	*out = find_loaded(fs->models, id);
	pthread_mutex_unlock(&fs->models->lock);
	if (*out)
		return 0;
	rc = idx_read_begin(fs->idx, &t);
	if (rc)
		return rc;
	rc = idx_model_get(t, id, &bytes, &len);
	if (!rc) {
		rc = boa_model_load(bytes, len, &m, err, sizeof(err));
		if (rc)
			fs_log("model %08x in the index does not load: %s", id, err);
		else if (boa_model_id(m) != id)
			rc = -EIO;
	} else if (rc == -ENOENT) {
		fs_log("model %08x is not in the archive's index", id);
	}
	idx_read_end(t);
	if (rc) {
		boa_model_free(m);
		return rc == -ENOENT ? -EIO : rc;
	}
	*out = remember(fs->models, id, m);
	return *out ? 0 : -ENOMEM;
}

int fs_model_current(struct fs *fs, const struct boa_model **out)
{
	struct idx_txn *t = NULL;
	uint64_t id = 0;
	int rc = idx_read_begin(fs->idx, &t);

	if (rc)
		return rc;
	rc = idx_meta_get_u64(t, META_CURRENT_MODEL, &id);
	idx_read_end(t);
	if (rc)
		return rc;
	return fs_model_get(fs, (uint32_t)id, out);
}

struct install_op {
	uint32_t id;
	const void *bytes;
	size_t len;
	int make_current;
};

static int install_body(struct idx_txn *t, void *arg)
{
	const struct install_op *op = arg;
	int rc = idx_model_put(t, op->id, op->bytes, op->len);

	if (!rc && op->make_current)
		rc = idx_meta_put_u64(t, META_CURRENT_MODEL, op->id);
	return rc;
}

int fs_model_install(struct fs *fs, const void *bytes, size_t len, int make_current,
                     uint32_t *id_out)
{
	struct boa_model *m = NULL;
	struct install_op op;
	char err[200];
	uint32_t id;
	int rc;

	rc = boa_model_load(bytes, len, &m, err, sizeof(err));
	if (rc)
		return rc;
	id = boa_model_id(m);
	op = (struct install_op){id, bytes, len, make_current};
	rc = fs_txn_run(fs, NULL, 0, install_body, &op);
	if (!rc) {
		remember(fs->models, id, m);
		m = NULL;
		if (id_out)
			*id_out = id;
	}
	boa_model_free(m);
	return rc;
}

int fs_model_install_file(struct fs *fs, const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *bytes = NULL;
	long len;
	uint32_t id;
	int rc;

	if (!f) {
		rc = -errno;
		fs_log("model %s: %s", path, strerror(errno));
		return rc;
	}
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		rc = -EIO;
		goto out;
	}
	bytes = malloc(len ? (size_t)len : 1);
	if (!bytes) {
		rc = -ENOMEM;
		goto out;
	}
	if (fread(bytes, 1, (size_t)len, f) != (size_t)len) {
		rc = -EIO;
		fs_log("model %s: short read", path);
		goto out;
	}
	rc = fs_model_install(fs, bytes, (size_t)len, 1, &id);
	if (rc)
		fs_log("model %s: cannot install: %s", path, strerror(-rc));
	else
		fs_log("model %s installed as %08x; new recompressions use it", path, id);
out:
	free(bytes);
	fclose(f);
	return rc;
}
