/* The daemon's log line and wall clock. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "fs_log.h"

/* Process-wide and set once at start (fs_log_program), before any thread reads it. */
static const char *log_program = "boafs";

void fs_log_program(const char *name)
{
	log_program = name;
}

/* Where the lines go, also process-wide: set once by the daemon when it leaves the terminal
 * (fs_log_to_file, fs_log_to_syslog), before the lines of other threads can race with it. The
 * descriptor 2 itself is moved, so that what index/, libfuse and the sanitizers print on
 * stderr follows too. */
static int log_stamped;     /* a file: each line starts with the time */
static pthread_t log_relay; /* syslog: copies the lines of a pipe on fd 2 into syslog */
static int log_relay_running;

void fs_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (__atomic_load_n(&log_stamped, __ATOMIC_RELAXED)) {
		char when[32];
		time_t now = time(NULL);
		struct tm tm;

		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S%z", localtime_r(&now, &tm));
		fprintf(stderr, "%s ", when);
	}
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

int fs_log_to_file(int fd)
{
	if (dup2(fd, STDERR_FILENO) < 0)
		return -errno;
	if (fd != STDERR_FILENO)
		close(fd);
	setvbuf(stderr, NULL, _IOLBF, 0);
	__atomic_store_n(&log_stamped, 1, __ATOMIC_RELAXED);
	return 0;
}

static void *relay_main(void *arg)
{
	FILE *in = fdopen((int)(intptr_t)arg, "r");
	char line[1024];
	size_t skip = strlen(log_program) + 2;

	if (!in)
		return NULL;
	while (fgets(line, sizeof(line), in)) {
		line[strcspn(line, "\n")] = '\0';
		/* syslog names the program itself (openlog). */
		syslog(LOG_NOTICE, "%s",
		       !strncmp(line, log_program, skip - 2) && !strncmp(line + skip - 2, ": ", 2)
		           ? line + skip
		           : line);
	}
	fclose(in);
	return NULL;
}

int fs_log_to_syslog(void)
{
	int fds[2], rc;

	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	openlog(log_program, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	rc = -pthread_create(&log_relay, NULL, relay_main, (void *)(intptr_t)fds[0]);
	if (rc) {
		close(fds[0]);
		close(fds[1]);
		return rc;
	}
	log_relay_running = 1;
	if (dup2(fds[1], STDERR_FILENO) < 0)
		rc = -errno;
	close(fds[1]);
	setvbuf(stderr, NULL, _IOLBF, 0);
	return rc;
}

void fs_log_end(void)
{
	int null_fd;

	if (!log_relay_running)
		return;
	/* The relay reads until the last write end closes: fd 2 is it. */
	fflush(stderr);
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null_fd >= 0) {
		dup2(null_fd, STDERR_FILENO);
		close(null_fd);
	}
	pthread_join(log_relay, NULL);
	log_relay_running = 0;
	closelog();
}
