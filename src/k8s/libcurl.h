/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k8s: libcurl as the API client (http.c) calls it, loaded on first use
 * (libcurl.c). Private to those two files: the rest of the module does not
 * see curl.
 */
#ifndef GW_K8S_LIBCURL_H
#define GW_K8S_LIBCURL_H

#include <curl/curl.h>
#include <stdbool.h>

/*
 * libcurl, loaded on first use (libcurl.c): its functions, once
 * gw_k8s_libcurl_load returned 0. gw_k8s_libcurl_load loads and initialises
 * it once per process (thread-safe); on failure it returns -ELIBACC and
 * *err says why (static storage).
 */
struct gw_k8s_libcurl {
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
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
};
extern struct gw_k8s_libcurl gw_k8s_libcurl;
int gw_k8s_libcurl_load(const char **err);

#endif
