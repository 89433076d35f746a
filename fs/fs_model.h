/* fs_model — the archive's model registry (fs_model.c).
 *
 * Owns: loading .boam models from the index's `models` database once and sharing them, meta
 * `current_model` (the model new recompressions use), installing a model.
 * Does not own: the model format and evaluation (codec/boa_model.h).
 * Threads: any thread; one mutex guards the loaded set. A loaded model is read-only and lives
 * until fs_models_free.
 * Errors: 0, or a negative errno (-ENOENT: no such model, -EINVAL/-EIO: a bad model file). */
#ifndef BOAFS_FS_MODEL_H
#define BOAFS_FS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "fs.h"

struct boa_model;
struct fs_models;

int fs_models_new(struct fs_models **out);
void fs_models_free(struct fs_models *r);
/* The model with this id from the index, loaded once and shared. */
int fs_model_get(struct fs *fs, uint32_t id, const struct boa_model **out);
/* The model new recompressions use (meta current_model); -ENOENT if none is installed. */
int fs_model_current(struct fs *fs, const struct boa_model **out);
int fs_model_install(struct fs *fs, const void *bytes, size_t len, int make_current,
                     uint32_t *id_out);
int fs_model_install_file(struct fs *fs, const char *path);

#endif
