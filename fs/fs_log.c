/* The daemon's log line and wall clock. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "fs_log.h"

/* Process-wide and set once at start (fs_log_program), before any thread reads it. */
static const char *log_program = "boafs";

void fs_log_program(const char *name)
{
	log_program = name;
}

void fs_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", log_program);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int64_t fs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
