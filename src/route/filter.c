/* SPDX-License-Identifier: Apache-2.0 */
/*
 * route: the pure filter logic the proxy calls after a match. Path
 * normalisation, header modifiers, redirect Locations, URL rewrites,
 * weighted backend choice and mirror sampling. No I/O, no allocation: the
 * caller hands the output storage in.
 */
#include <stdio.h>
#include <string.h>

#include "route/internal.h"

#include "base/banned.h"

/* ------------------------------------------------------------------------ */
/* Path normalisation                                                       */

static bool
is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int
gw_route_path_normalize(struct gw_str in, char *buf, size_t cap, struct gw_str *out)
{
    static const char hex[] = "0123456789ABCDEF";
    if (in.len == 0) {
        *out = GW_STR("/");
        return 0;
    }
    if (in.p[0] != '/')
        return GW_EPARSE;
    bool changed = false;
    size_t k = 0; /* output length (written while it fits) */
    for (size_t i = 0; i < in.len; i++) {
        unsigned char c = (unsigned char)in.p[i];
        char o[3];
        size_t on = 1;
        o[0] = (char)c;
        if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '?' || c == '#')
            return GW_EPARSE;
        if (c == '%') {
            if (i + 2 >= in.len)
                return GW_EPARSE;
            int hi = gw_hex_digit((unsigned char)in.p[i + 1]),
                lo = gw_hex_digit((unsigned char)in.p[i + 2]);
            if (hi < 0 || lo < 0)
                return GW_EPARSE;
            unsigned char d = (unsigned char)(hi * 16 + lo);
            if (d == '/' || d == '\\' || d < 0x20 || d == 0x7f)
                return GW_EPARSE;
            if (is_unreserved(d)) {
                o[0] = (char)d;
                changed = true;
            } else {
                o[1] = hex[hi];
                o[2] = hex[lo];
                on = 3;
                if (o[1] != in.p[i + 1] || o[2] != in.p[i + 2])
                    changed = true;
            }
            i += 2;
        }
        for (size_t j = 0; j < on; j++, k++)
            if (k < cap)
                buf[k] = o[j];
    }
    if (changed && k > cap)
        return GW_ELIMIT;
    struct gw_str p = changed ? (struct gw_str){buf, k} : in;
    /* Dot segments, after decoding: "%2e%2E" is "..". */
    size_t s = 1;
    for (size_t i = 1; i <= p.len; i++) {
        if (i == p.len || p.p[i] == '/') {
            size_t n = i - s;
            if ((n == 1 && p.p[s] == '.') || (n == 2 && p.p[s] == '.' && p.p[s + 1] == '.'))
                return GW_EPARSE;
            s = i + 1;
        }
    }
    *out = p;
    return 0;
}

int
gw_route_path_merge_slashes(struct gw_str in, char *buf, size_t cap, struct gw_str *out)
{
    const char *first = NULL;
    for (size_t i = 1; i < in.len; i++)
        if (in.p[i] == '/' && in.p[i - 1] == '/') {
            first = in.p + i;
            break;
        }
    if (!first) {
        *out = in;
        return 0;
    }
    size_t keep = (size_t)(first - in.p); /* up to the first doubled '/' */
    if (keep > cap)
        return GW_ELIMIT;
    /* memmove: buf may be in.p itself (merging never writes ahead of the
     * byte it reads). */
    memmove(buf, in.p, keep);
    size_t k = keep;
    for (size_t i = keep; i < in.len; i++) {
        if (in.p[i] == '/' && buf[k - 1] == '/')
            continue;
        if (k == cap)
            return GW_ELIMIT;
        buf[k++] = in.p[i];
    }
    *out = (struct gw_str){buf, k};
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Header modifiers                                                         */

/* Compacts h[from..n) without the lines named name; the new count. */
static size_t
drop_named(struct gw_h1_header *h, size_t from, size_t n, struct gw_str name)
{
    size_t j = from;
    for (size_t i = from; i < n; i++)
        if (!gw_str_caseeq(h[i].name, name))
            h[j++] = h[i];
    return j;
}

/* Each operation is applied in turn to the list as the previous ones left
 * it, so a later set of the same name wins and a name both removed and set
 * ends up set. In place: the proxy's working list needs no second array,
 * and two modifiers (rule, then backend) run one after the other on it. */
int
gw_route_headers_apply(const struct gw_ir_header_mod *mod, struct gw_h1_header *h, size_t *n,
                       size_t max)
{
    size_t k = *n;
    int rc = 0;
    for (size_t i = 0; i < mod->nremove; i++)
        k = drop_named(h, 0, k, gw_str_from(mod->remove[i]));
    for (size_t i = 0; i < mod->nset; i++) {
        struct gw_h1_header s = {gw_str_from(mod->set[i].name), gw_str_from(mod->set[i].value)};
        size_t j = 0;
        while (j < k && !gw_str_caseeq(h[j].name, s.name))
            j++;
        if (j < k) {
            h[j] = s;
            k = drop_named(h, j + 1, k, s.name);
        } else if (k < max) {
            h[k++] = s;
        } else {
            rc = GW_ELIMIT;
            goto out;
        }
    }
    for (size_t i = 0; i < mod->nadd; i++) {
        if (k == max) {
            rc = GW_ELIMIT;
            goto out;
        }
        h[k++] =
            (struct gw_h1_header){gw_str_from(mod->add[i].name), gw_str_from(mod->add[i].value)};
    }
out:
    *n = k;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Rewrites and redirects                                                   */

int
gw_route_path_rewrite(const struct gw_ir_filter *f, const struct gw_route_result *m,
                      struct gw_str path, char *buf, size_t cap, struct gw_str *out)
{
    if (f->path_mod == GW_IR_PATHMOD_KEEP) {
        *out = path;
        return 0;
    }
    struct gw_str repl = gw_str_from(f->path);
    if (f->path_mod == GW_IR_PATHMOD_FULL) {
        *out = repl.len ? repl : GW_STR("/");
        return 0;
    }
    /* ReplacePrefixMatch: the replacement without its trailing '/', then
     * what followed the matched prefix (empty or starting with '/'). */
    if (repl.len && repl.p[repl.len - 1] == '/')
        repl.len--;
    size_t plen = GW_MIN(m->prefix_len, path.len);
    struct gw_str rest = {path.p + plen, path.len - plen};
    if (repl.len + rest.len == 0) {
        *out = GW_STR("/");
        return 0;
    }
    if (repl.len == 0) {
        *out = rest;
        return 0;
    }
    if (repl.len + rest.len > cap)
        return GW_ELIMIT;
    memcpy(buf, repl.p, repl.len);
    if (rest.len)
        memcpy(buf + repl.len, rest.p, rest.len);
    *out = (struct gw_str){buf, repl.len + rest.len};
    return 0;
}

/* host without ":port" (an IPv6 literal keeps its brackets). */
static struct gw_str
host_only(struct gw_str host)
{
    if (host.len && host.p[0] == '[') {
        const char *rb = memchr(host.p, ']', host.len);
        if (rb)
            host.len = (size_t)(rb - host.p) + 1;
        return host;
    }
    const char *colon = host.len ? memchr(host.p, ':', host.len) : NULL;
    if (colon)
        host.len = (size_t)(colon - host.p);
    return host;
}

struct gw_str
gw_route_host_rewrite(const struct gw_ir_filter *f, struct gw_str host)
{
    return f->hostname ? gw_str_from(f->hostname) : host;
}

static int
well_known_port(struct gw_str scheme)
{
    if (gw_str_caseeq(scheme, GW_STR("http")))
        return 80;
    if (gw_str_caseeq(scheme, GW_STR("https")))
        return 443;
    return -1;
}

int
gw_route_redirect_format(const struct gw_ir_filter *f, const struct gw_route_result *m,
                         const struct gw_route_url *url, struct gw_buf *loc)
{
    size_t mark = loc->len;
    struct gw_str scheme = f->scheme ? gw_str_from(f->scheme) : url->scheme;
    struct gw_str host = f->hostname ? gw_str_from(f->hostname) : host_only(url->host);
    int port;
    if (f->port > 0)
        port = f->port;
    else if (f->scheme && well_known_port(scheme) > 0)
        port = well_known_port(scheme);
    else
        port = url->port;
    char pbuf[8192];
    struct gw_str path;
    int rc = gw_route_path_rewrite(f, m, url->path, pbuf, sizeof(pbuf), &path);
    if (rc == 0)
        rc = gw_buf_append_str(loc, scheme);
    if (rc == 0)
        rc = gw_buf_append_cstr(loc, "://");
    if (rc == 0)
        rc = gw_buf_append_str(loc, host);
    if (rc == 0 && port != well_known_port(scheme))
        rc = gw_buf_appendf(loc, ":%d", port);
    if (rc == 0)
        rc = gw_buf_append_str(loc, path);
    if (rc == 0 && url->query.len) {
        rc = gw_buf_append_char(loc, '?');
        if (rc == 0)
            rc = gw_buf_append_str(loc, url->query);
    }
    /* A CR, LF or NUL would split the Location field (load refuses them in
     * configuration; this is the line behind). */
    for (size_t i = mark; rc == 0 && i < loc->len; i++) {
        char ch = loc->p[i];
        if (ch == '\r' || ch == '\n' || ch == '\0')
            rc = GW_EINVAL;
    }
    if (rc < 0) {
        loc->len = mark;
        if (loc->p)
            loc->p[mark] = '\0';
        return rc == GW_EINVAL ? GW_EINVAL : GW_ELIMIT;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Backends and mirrors                                                     */

const struct gw_ir_backend *
gw_route_backend_pick(const struct gw_ir_route *r, uint32_t rnd)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < r->nbackends; i++)
        sum += r->backends[i].weight;
    if (sum == 0)
        return NULL;
    /* Scale rnd to [0, sum): fair to within 2^-32 for sums below 2^32. */
    uint64_t t = sum <= UINT32_MAX ? ((uint64_t)rnd * sum) >> 32 : rnd % sum;
    for (size_t i = 0; i < r->nbackends; i++) {
        if (t < r->backends[i].weight)
            return &r->backends[i];
        t -= r->backends[i].weight;
    }
    return NULL; /* not reached */
}

bool
gw_route_mirror_sample(uint32_t num, uint32_t den, uint32_t rnd)
{
    if (den == 0 || num >= den)
        return true;
    if (num == 0)
        return false;
    return (((uint64_t)rnd * den) >> 32) < num;
}
