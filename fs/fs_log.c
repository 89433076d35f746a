/* The daemon's log line and wall clock. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "fs_log.h"

void fs_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("boafs: ", stderr);
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
