/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl, loaded when the Kubernetes source or the first remote JWKS
 * needs it, not when gatehouse starts. Debian's libcurl brings two dozen libraries with it (GnuTLS,
 * Kerberos, LDAP, SSH, RTMP...), whose pages and constructors cost every
 * process about 3.3 MB of RSS: the standalone mode, which never talks to
 * an API server, does not load them unless a JWTPolicy fetches its keys.
 * The calls go through gw_libcurl, filled from the library's symbols.
 */
#include "libcurl/libcurl.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"

#include "base/banned.h"

/* The soname of libcurl 7 and 8 alike (CURL's ABI is stable since 7.16). */
#define LIBCURL_SONAME "libcurl.so.4"

struct gw_libcurl gw_libcurl;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[512];

#define SYM(field, name)                                                                        \
    do {                                                                                        \
        void *p_ = dlsym(lib, name);                                                            \
        if (!p_) {                                                                              \
            snprintf(load_error, sizeof(load_error), "%s: no symbol %s", LIBCURL_SONAME, name); \
            return;                                                                             \
        }                                                                                       \
        /* POSIX: a data pointer from dlsym converts to a function pointer. */                  \
        *(void **)(void *)&gw_libcurl.field = p_;                                               \
    } while (0)

static void
load(void)
{
    void *lib = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        snprintf(load_error, sizeof(load_error), "%s", e ? e : LIBCURL_SONAME ": not found");
        return;
    }
    SYM(global_init, "curl_global_init");
    SYM(version_info, "curl_version_info");
    SYM(easy_init, "curl_easy_init");
    SYM(easy_setopt, "curl_easy_setopt");
    SYM(easy_getinfo, "curl_easy_getinfo");
    SYM(easy_strerror, "curl_easy_strerror");
    SYM(easy_cleanup, "curl_easy_cleanup");
    SYM(multi_init, "curl_multi_init");
    SYM(multi_setopt, "curl_multi_setopt");
    SYM(multi_add_handle, "curl_multi_add_handle");
    SYM(multi_remove_handle, "curl_multi_remove_handle");
    SYM(multi_assign, "curl_multi_assign");
    SYM(multi_socket_action, "curl_multi_socket_action");
    SYM(multi_info_read, "curl_multi_info_read");
    SYM(multi_strerror, "curl_multi_strerror");
    SYM(multi_cleanup, "curl_multi_cleanup");
    SYM(multi_perform, "curl_multi_perform");
    SYM(multi_poll, "curl_multi_poll");
    SYM(multi_wakeup, "curl_multi_wakeup");
    SYM(slist_append, "curl_slist_append");
    SYM(slist_free_all, "curl_slist_free_all");
    /* Once per process, before any other call (curl's rule). */
    if (gw_libcurl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(load_error, sizeof(load_error), "curl_global_init failed");
        return;
    }
    gw_libcurl.loaded = true;
}

int
gw_libcurl_load(const char **err)
{
    pthread_once(&once, load);
    *err = gw_libcurl.loaded ? NULL : load_error;
    return gw_libcurl.loaded ? 0 : -ELIBACC;
}
