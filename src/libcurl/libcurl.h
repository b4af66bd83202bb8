/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl: the library, loaded on first use (libcurl.c) by its users, the
 * Kubernetes API client (k8s/http.c) and the remote JWKS fetcher
 * (proxy/jwks.c). Debian's libcurl brings two dozen libraries with it, so
 * a process that needs neither never maps it. Depends on base only.
 */
#ifndef GW_LIBCURL_H
#define GW_LIBCURL_H

#include <curl/curl.h>
#include <stdbool.h>

/*
 * libcurl's functions, once gw_libcurl_load returned 0. gw_libcurl_load
 * loads and initialises it once per process (thread-safe, any thread but
 * not while another thread makes curl calls for the first time); on
 * failure it returns -ELIBACC and *err says why (static storage).
 */
struct gw_libcurl {
    bool loaded;
    CURLcode (*global_init)(long flags);
    curl_version_info_data *(*version_info)(CURLversion);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    const char *(*easy_strerror)(CURLcode);
    void (*easy_cleanup)(CURL *);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
    CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    const char *(*multi_strerror)(CURLMcode);
    CURLMcode (*multi_cleanup)(CURLM *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned, int, int *);
    CURLMcode (*multi_wakeup)(CURLM *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
};
extern struct gw_libcurl gw_libcurl;
int gw_libcurl_load(const char **err);

#endif
