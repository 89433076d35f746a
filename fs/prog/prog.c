/* prog — what the sub-commands of `boa` share: the error prefix, the clock, the models for a
 * level, the progress display. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "prog.h"

void fail(const char *fmt, ...)
{
	va_list ap;

	fputs("boa: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
static const char *const builtin_names[2] = {"default", "fast"};

static struct boa_model *models_user(struct models *ms)
{
	char err[256] = "";
	int rc;

	if (!ms->tried_user) {
		ms->tried_user = 1;
		rc = boa_model_load_file(ms->path, &ms->user, err, sizeof(err));
		if (rc) {
			fail("cannot load model %s: %s", ms->path, err[0] ? err : strerror(-rc));
			ms->user = NULL;
		}
	}
	return ms->user;
}

static struct boa_model *models_builtin(struct models *ms, int i)
{
	int rc;

	if (!ms->tried_builtin[i]) {
		ms->tried_builtin[i] = 1;
		rc = boa_model_load_builtin(builtin_names[i], &ms->builtin[i]);
		if (rc)
			ms->builtin[i] = NULL;
	}
	return ms->builtin[i];
}

/* Loads the -m model now: an unusable file the user named is an error even when no chunk
 * turns out to need it. */
int models_require_user(struct models *ms)
{
	return models_user(ms) ? 0 : -EINVAL;
}

/* The model to code `level` with. */
int models_for_level(struct models *ms, int level, struct boa_model **out)
{
	int i = level <= 3 ? 1 : 0;

	*out = ms->path ? models_user(ms) : models_builtin(ms, i);
	if (*out)
		return 0;
	if (!ms->path)
		fail("the built-in model '%s' is not available; levels 5-9 need it (or -m)",
		     builtin_names[i]);
	return -ENOENT;
}

/* The model whose id is `id`: -m's, or a built-in one. */
int models_by_id(struct models *ms, uint32_t id, struct boa_model **out)
{
	if (ms->path && models_user(ms) && model_id(ms->user) == id) {
		*out = ms->user;
		return 0;
	}
	for (int i = 0; i < 2; i++) {
		if (models_builtin(ms, i) && model_id(ms->builtin[i]) == id) {
			*out = ms->builtin[i];
			return 0;
		}
	}
	return -ENOENT;
}

void models_free(struct models *ms)
{
	boa_model_free(ms->user);
	boa_model_free(ms->builtin[0]);
	boa_model_free(ms->builtin[1]);
	memset(ms, 0, sizeof(*ms));
}

uint32_t model_id(const struct boa_model *m)
{
	return m ? boa_model_id(m) : 0;
}

void progress_init(struct progress *p, uint64_t total)
{
	p->on = isatty(STDERR_FILENO);
	p->total = total;
	p->done = 0;
	p->start = p->last = now_s();
}

/* "1:02:03", "2:03" or "0:03": the time left at the current rate. */
void eta_text(char *buf, size_t cap, double seconds)
{
	/* unsigned char fields: at most "99:59:59", which gcc's -O3 truncation check can see. */
	unsigned s = seconds < 0 ? 0 : seconds > 359999 ? 359999 : (unsigned)(seconds + 0.5);
	unsigned char h = (unsigned char)(s / 3600), m = (unsigned char)(s / 60 % 60),
	              sec = (unsigned char)(s % 60);

	if (h)
		snprintf(buf, cap, "%u:%02u:%02u", h, m, sec);
	else
		snprintf(buf, cap, "%u:%02u", (unsigned)(s / 60), sec);
}

void progress_add(struct progress *p, uint64_t n)
{
	double t, rate;
	char bar[31], eta[16];
	int fill;

	p->done += n;
	if (!p->on)
		return;
	t = now_s();
	if (t - p->last < 0.1 && p->done != p->total)
		return;
	p->last = t;
	rate = (double)p->done / (t - p->start + 1e-9);
	if (p->total) {
		fill = (int)(30.0 * (double)p->done / (double)p->total);
		fill = fill > 30 ? 30 : fill;
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(30 - fill));
		bar[30] = 0;
		if (p->done && p->done < p->total)
			eta_text(eta, sizeof(eta), (double)(p->total - p->done) / rate);
		else
			snprintf(eta, sizeof(eta), "%s", p->done ? "0:00" : "--:--");
		fprintf(stderr, "\r[%s] %3d%% %.2f MB/s ETA %s ", bar,
		        (int)(100.0 * (double)p->done / (double)p->total), rate / 1e6, eta);
	} else {
		fprintf(stderr, "\r%.1f MB %.2f MB/s ", (double)p->done / 1e6, rate / 1e6);
	}
}

void progress_end(struct progress *p)
{
	if (p->on)
		fputs("\r\033[K", stderr);
}
