/* spool.c: the file journal's directory, opened once, trusted only when it is this user's alone. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"

/*
 * Anyone who can write to the spool can plant a symlink where chatstream
 * writes, or forge a stream another user then resumes; anyone who can read
 * it can list every stream.  So the spool must be this user's, mode 0700,
 * and it is reached by one fd opened without following a symlink, never by
 * a path that could be swapped afterwards.
 */

/* One spool per path, kept for the life of the process (a server has one). */
struct spool {
	struct spool *next;
	int fd;
	char path[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct spool *opened;        /* never freed: the fds live as long as the process */

/* Makes path's missing parents (0755) and path itself (0700). */
static void
make_spool(const char *path)
{
	char *p, *slash;

	if ((p = strdup(path)) == NULL)
		return;
	for (slash = strchr(p + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (p[0] != '\0')
			mkdir(p, 0755);
		*slash = '/';
	}
	free(p);
	mkdir(path, 0700);
}

/* The checks on an open spool fd (see spool_fd()); 0 or -1. */
static int
trusted(int fd, const char *path, struct cs_error *err)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		return cs_fail(err, 500, "config", "spool_dir %s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return cs_fail(err, 500, SPOOL_UNSAFE, "spool_dir %s is not a directory", path);
	if (st.st_uid != geteuid())
		return cs_fail(err, 500, SPOOL_UNSAFE, "spool_dir %s belongs to uid %lu, not to "
		    "uid %lu that runs chatstream: another user could forge its streams; "
		    "remove it or give it to chatstream's user (mode 0700)", path,
		    (unsigned long)st.st_uid, (unsigned long)geteuid());
	if ((st.st_mode & 077) != 0)
		return cs_fail(err, 500, SPOOL_UNSAFE, "spool_dir %s has mode %04o: group and "
		    "others must have no access (chmod 0700 it)", path,
		    (unsigned)(st.st_mode & 07777));
	return 0;
}

/* Opens and checks the spool; the fd, or -1 with err filled. */
static int
open_spool(const char *path, struct cs_error *err)
{
	struct stat st;
	int fd;

	if (path[0] != '/')
		return cs_fail(err, 500, "config", "spool_dir %s is not an absolute path", path);
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		return cs_fail(err, 500, SPOOL_UNSAFE, "spool_dir %s is a symbolic link: "
		    "name the directory itself", path);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ELOOP)
			return cs_fail(err, 500, SPOOL_UNSAFE, "spool_dir %s is a symbolic link: "
			    "name the directory itself", path);
		if (errno == ENOTDIR)
			return cs_fail(err, 500, SPOOL_UNSAFE, "spool_dir %s is not a directory", path);
		return cs_fail(err, 500, "config", "spool_dir %s: %s", path, strerror(errno));
	}
	if (trusted(fd, path, err) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

int
spool_fd(const char *path, struct cs_error *err)
{
	struct spool *s;
	struct stat st;
	size_t len = strlen(path);
	int fd = -1;

	pthread_mutex_lock(&lock);
	for (s = opened; s != NULL; s = s->next)
		if (strcmp(s->path, path) == 0)
			break;
	if (s != NULL)
		fd = s->fd;
	else if ((s = malloc(sizeof(*s) + len + 1)) == NULL)
		cs_fail(err, 503, "overloaded", "out of memory");
	else {
		if (lstat(path, &st) == -1 && errno == ENOENT)
			make_spool(path);
		if ((fd = open_spool(path, err)) == -1 ||
		    faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) == -1) {
			if (fd != -1) {
				cs_fail(err, 500, "config", "spool_dir %s: %s", path, strerror(errno));
				close(fd);
				fd = -1;
			}
			free(s);
		} else {
			s->fd = fd;
			memcpy(s->path, path, len + 1);
			s->next = opened;
			opened = s;
		}
	}
	pthread_mutex_unlock(&lock);
	return fd;
}

int
spool_check(const char *path, struct cs_error *err)
{
	struct stat st;
	int fd;

	if (path[0] == '/' && lstat(path, &st) == -1 && errno == ENOENT)
		return 0;
	if ((fd = open_spool(path, err)) == -1)
		return -1;
	close(fd);
	return 0;
}
