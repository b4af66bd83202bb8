/* SPDX-License-Identifier: Apache-2.0 */
/*
 * route: the CORS filter (GEP-1767). Decides whether a request is a
 * preflight the gateway answers itself or an actual request, whether its
 * Origin is allowed, and which Access-Control-* headers go in the response.
 */
#include <stdio.h>
#include <string.h>

#include "route/internal.h"

#include "base/banned.h"

static const struct gw_h1_header *
find_header(const struct gw_h1_header *h, size_t n, struct gw_str name)
{
    for (size_t i = 0; i < n; i++)
        if (gw_str_caseeq(h[i].name, name))
            return &h[i];
    return NULL;
}

static bool
list_has(const char **v, size_t n, struct gw_str s, bool nocase)
{
    for (size_t i = 0; i < n; i++) {
        struct gw_str e = gw_str_from(v[i]);
        if (nocase ? gw_str_caseeq(e, s) : gw_str_eq(e, s))
            return true;
    }
    return false;
}

static bool
list_has_star(const char **v, size_t n)
{
    return list_has(v, n, GW_STR("*"), false);
}

/* "scheme://host[:port]" entry, with host possibly "*.suffix", against an
 * Origin; schemes and hosts compare case-insensitively. */
static bool
origin_matches(struct gw_str entry, struct gw_str origin)
{
    if (gw_str_eq(entry, GW_STR("*")))
        return true;
    const char *es = entry.len >= 3 ? memmem(entry.p, entry.len, "://", 3) : NULL;
    const char *os = origin.len >= 3 ? memmem(origin.p, origin.len, "://", 3) : NULL;
    if (!es || !os)
        return false;
    struct gw_str escheme = {entry.p, (size_t)(es - entry.p)};
    struct gw_str oscheme = {origin.p, (size_t)(os - origin.p)};
    if (!gw_str_caseeq(escheme, oscheme))
        return false;
    struct gw_str erest = {es + 3, entry.len - escheme.len - 3};
    struct gw_str orest = {os + 3, origin.len - oscheme.len - 3};
    if (erest.len >= 2 && erest.p[0] == '*' && erest.p[1] == '.') {
        /* '*' stands for one or more labels. */
        struct gw_str suffix = {erest.p + 1, erest.len - 1};
        if (orest.len <= suffix.len)
            return false;
        struct gw_str tail = {orest.p + orest.len - suffix.len, suffix.len};
        if (!gw_str_caseeq(tail, suffix))
            return false;
        for (size_t i = 0; i < orest.len - suffix.len; i++)
            if (orest.p[i] == ':' || orest.p[i] == '/')
                return false;
        return true;
    }
    return gw_str_caseeq(erest, orest);
}

/* Appends a ", "-joined list to buf; the view it returns. */
static int
join(char *buf, size_t cap, size_t *used, const char **v, size_t n, struct gw_str *out)
{
    size_t start = *used, k = *used;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(v[i]);
        size_t need = len + (i ? 2 : 0);
        if (k + need > cap)
            return GW_ELIMIT;
        if (i) {
            buf[k++] = ',';
            buf[k++] = ' ';
        }
        memcpy(buf + k, v[i], len);
        k += len;
    }
    *used = k;
    *out = (struct gw_str){buf + start, k - start};
    return 0;
}

/* Every comma-separated token of requested is in the allowed list. */
static bool
headers_allowed(const struct gw_ir_filter *f, struct gw_str requested)
{
    size_t i = 0;
    while (i < requested.len) {
        size_t j = i;
        while (j < requested.len && requested.p[j] != ',')
            j++;
        struct gw_str tok = gw_str_trim((struct gw_str){requested.p + i, j - i});
        if (tok.len && !list_has(f->cors_headers, f->ncors_headers, tok, true))
            return false;
        i = j + 1;
    }
    return true;
}

static void
put(struct gw_route_cors *out, const char *name, struct gw_str value)
{
    GW_ASSERT(out->nheaders < GW_ROUTE_CORS_MAX_HEADERS);
    out->headers[out->nheaders++] = (struct gw_h1_header){gw_str_from(name), value};
}

int
gw_route_cors_eval(const struct gw_ir_filter *f, struct gw_str method,
                   const struct gw_h1_header *headers, size_t nheaders, char *buf, size_t cap,
                   struct gw_route_cors *out)
{
    memset(out, 0, sizeof(*out));
    const struct gw_h1_header *origin = find_header(headers, nheaders, GW_STR("origin"));
    if (!origin)
        return 0;
    const struct gw_h1_header *acrm =
        find_header(headers, nheaders, GW_STR("access-control-request-method"));
    bool preflight = acrm && gw_str_eq(method, GW_STR("OPTIONS"));
    out->kind = preflight ? GW_ROUTE_CORS_PREFLIGHT : GW_ROUTE_CORS_ACTUAL;

    bool ok = false;
    for (size_t i = 0; i < f->ncors_origins && !ok; i++)
        ok = origin_matches(gw_str_from(f->cors_origins[i]), origin->value);
    const struct gw_h1_header *acrh =
        preflight ? find_header(headers, nheaders, GW_STR("access-control-request-headers")) : NULL;
    bool any_method = list_has_star(f->cors_methods, f->ncors_methods);
    bool any_header = list_has_star(f->cors_headers, f->ncors_headers);
    if (ok && preflight) {
        if (!any_method && !list_has(f->cors_methods, f->ncors_methods, acrm->value, false))
            ok = false;
        if (acrh && !any_header && !headers_allowed(f, acrh->value))
            ok = false;
    }
    if (!ok)
        return 0;
    out->allowed = true;

    size_t used = 0;
    int rc;
    /* "*" only when any origin is allowed and no credentials are; else the
     * Origin is echoed (a credentialed response may never say "*"). */
    bool star = list_has_star(f->cors_origins, f->ncors_origins) && !f->cors_credentials;
    put(out, "access-control-allow-origin", star ? GW_STR("*") : origin->value);
    if (preflight) {
        struct gw_str v;
        if (any_method) {
            v = acrm->value;
        } else if ((rc = join(buf, cap, &used, f->cors_methods, f->ncors_methods, &v)) < 0) {
            return rc;
        }
        put(out, "access-control-allow-methods", v);
        if (any_header) {
            if (acrh && acrh->value.len)
                put(out, "access-control-allow-headers", acrh->value);
        } else if (f->ncors_headers) {
            if ((rc = join(buf, cap, &used, f->cors_headers, f->ncors_headers, &v)) < 0)
                return rc;
            put(out, "access-control-allow-headers", v);
        }
        if (f->cors_max_age > 0) {
            int n = snprintf(buf + used, used < cap ? cap - used : 0, "%d", f->cors_max_age);
            if (n < 0 || used + (size_t)n >= cap)
                return GW_ELIMIT;
            put(out, "access-control-max-age", (struct gw_str){buf + used, (size_t)n});
            used += (size_t)n;
        }
    }
    if (f->cors_credentials)
        put(out, "access-control-allow-credentials", GW_STR("true"));
    if (f->ncors_expose) {
        struct gw_str v;
        if ((rc = join(buf, cap, &used, f->cors_expose, f->ncors_expose, &v)) < 0)
            return rc;
        put(out, "access-control-expose-headers", v);
    }
    return 0;
}
