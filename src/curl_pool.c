/* curl_pool.c: connection caches for the relay, lent to one transfer at a time; DNS and TLS shared. */
/* SPDX-License-Identifier: ISC */
#include "config.h"

#include <pthread.h>

#include "curl_pool.h"
#include "log.h"

/*
 * What this relies on, in the documentation of libcurl 7.88 (Debian 12):
 *  - CURLSHOPT_SHARE(3), CURL_LOCK_DATA_CONNECT: "It is not supported to
 *    share connections between multiple concurrent threads."  DNS and
 *    SSL_SESSION carry no such restriction, given lock callbacks.
 *  - libcurl-thread(3): "You can pass the handles around among threads,
 *    but you must never use a single handle from more than one thread at
 *    any given time."
 *  - curl_multi_add_handle(3): "When an easy interface is added to a multi
 *    handle, it will use a shared connection cache owned by the multi
 *    handle.  Removing and adding new easy handles will not affect the pool
 *    of connections or the ability to do connection re-use."
 * So the share holds DNS and TLS sessions only, and every connection cache
 * is a multi handle's, used by one thread at a time: lent here, under a
 * mutex, and given back.  Per-thread caches would serve worse: the FastCGI
 * acceptors take turns, so consecutive requests land on different threads,
 * and each thread would open its own connection to the same upstream.
 */

/* Idle multi handles kept: one per stream running at once, up to this many. */
#define POOL_MAX 1024

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLSH *share;
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static CURLM *idle[POOL_MAX];           /* a stack: the last given back on top */
static size_t nidle;
static int refs;

static void
share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *u)
{
	(void)h;
	(void)access;
	(void)u;
	pthread_mutex_lock(&share_locks[data]);
}

static void
share_unlock(CURL *h, curl_lock_data data, void *u)
{
	(void)h;
	(void)u;
	pthread_mutex_unlock(&share_locks[data]);
}

/* curl_global_init must run before any thread exists: configuration time is. */
static void
global_init(void)
{
	int i;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init failed");
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&share_locks[i], NULL);
	if ((share = curl_share_init()) == NULL ||
	    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
	    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
	    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
	    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
		fatalx("curl_share_init failed");
}

void
curl_pool_ref(void)
{
	pthread_once(&once, global_init);
	pthread_mutex_lock(&pool_mu);
	refs++;
	pthread_mutex_unlock(&pool_mu);
}

void
curl_pool_unref(void)
{
	pthread_mutex_lock(&pool_mu);
	/* The last reference goes when the configuration does: no stream runs. */
	if (refs > 0 && --refs == 0)
		while (nidle > 0)
			curl_multi_cleanup(idle[--nidle]);
	pthread_mutex_unlock(&pool_mu);
}

CURLSH *
curl_pool_share(void)
{
	return share;
}

CURLM *
curl_pool_take(void)
{
	CURLM *m = NULL;

	pthread_mutex_lock(&pool_mu);
	if (nidle > 0)
		m = idle[--nidle];
	pthread_mutex_unlock(&pool_mu);
	return m != NULL ? m : curl_multi_init();
}

void
curl_pool_give(CURLM *m)
{
	int kept = 0;

	if (m == NULL)
		return;
	/* Idle, it calls nothing; the next borrower sets its own callbacks. */
	curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, NULL);
	curl_multi_setopt(m, CURLMOPT_SOCKETDATA, NULL);
	curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, NULL);
	curl_multi_setopt(m, CURLMOPT_TIMERDATA, NULL);
	pthread_mutex_lock(&pool_mu);
	if (refs > 0 && nidle < POOL_MAX) {
		idle[nidle++] = m;
		kept = 1;
	}
	pthread_mutex_unlock(&pool_mu);
	if (!kept)
		curl_multi_cleanup(m);
}
