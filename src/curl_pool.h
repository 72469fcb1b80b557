/* curl_pool.h: connection caches for the relay, lent to one transfer at a time; DNS and TLS shared. */
/* SPDX-License-Identifier: ISC */
#ifndef CS_CURL_POOL_H
#define CS_CURL_POOL_H

#include <curl/curl.h>

/*
 * libcurl may share DNS and TLS-session caches between threads (with locks),
 * but not connections; a multi handle, like any handle, may pass from thread
 * to thread as long as one thread at a time uses it.  So each transfer runs
 * in a multi handle borrowed from this pool, whose connection cache is its
 * own while it has it, and the next transfer, on whatever thread, gets the
 * multi handle (and so the warm connection) given back last.
 */

/*
 * Takes a reference on the pool.  The first one initialises libcurl: call it
 * before any other thread exists (configuration time is).  Exits through
 * fatalx() when libcurl cannot be initialised.
 */
void curl_pool_ref(void);

/* Drops a reference; the last one frees the idle multi handles, closing their connections. */
void curl_pool_unref(void);

/* The share for every easy handle (CURLOPT_SHARE): DNS and TLS sessions; never freed. */
CURLSH *curl_pool_share(void);

/*
 * Lends a multi handle, with the connections it keeps: the one given back
 * last, else a new one.  It has no easy handle and no callbacks; the caller
 * owns it until curl_pool_give().  Returns NULL when out of memory.
 */
CURLM *curl_pool_take(void);

/*
 * Gives m (may be NULL) back once its easy handles are removed; it is freed
 * instead when the pool is full or has no reference left.
 */
void curl_pool_give(CURLM *m);

#endif
