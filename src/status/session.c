/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: sessionPersistence of HTTPRoute and GRPCRoute rules (GEP-1619).
 * Which rules gatehouse serves as written (every type, lifetime and
 * timeout is; a sessionName that is no token, a header name the proxy
 * owns, or a zero timeout is not, and such a rule is dropped and reported
 * PartiallyInvalid rather than served without persistence: an application
 * that asks for it breaks without it), the summary the Accepted message
 * gives, and the IR each served (rule, match) entry carries: the name
 * (given, or one made from the rule's identity, as the GEP asks), the
 * cookie Path (the match's path, a regex's longest literal prefix ending
 * before a '/'), the timeouts, and the key id the proxy derives the rule's
 * signing key from. A rule without its own takes the one of its Service's
 * XBackendTrafficPolicy (backendtraffic.c), served the same way.
 */
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

/* RFC 9110 tchar. */
static bool
is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return false;
    return true;
}

/* Request fields the proxy reads or writes itself: a session header of
 * that name would fight it. */
static bool
header_is_ours(const char *s)
{
    static const char *const names[] = {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "proxy-connection",
        "upgrade",
        "trailer",
        "expect",
        "cookie",
        "set-cookie",
        "http2-settings",
        "x-forwarded-proto",
        "x-forwarded-for",
        "x-forwarded-host",
    };
    for (size_t i = 0; i < GW_ARRAY_LEN(names); i++)
        if (!strcasecmp(s, names[i]))
            return true;
    return false;
}

static const struct gw_session_persistence *
rule_session(const struct rt *r, size_t i)
{
    if (r->kind == GW_KIND_HTTPROUTE)
        return ((const struct gw_httproute *)(const void *)r->m)
            ->spec.rules.v[i]
            .session_persistence;
    return ((const struct gw_grpcroute *)(const void *)r->m)->spec.rules.v[i].session_persistence;
}

static size_t
rule_count(const struct rt *r)
{
    if (r->kind == GW_KIND_HTTPROUTE)
        return ((const struct gw_httproute *)(const void *)r->m)->spec.rules.n;
    return ((const struct gw_grpcroute *)(const void *)r->m)->spec.rules.n;
}

/* Why sp cannot be served as written; NULL if it can. */
static const char *
unsupported(struct tr *t, const struct gw_session_persistence *sp)
{
    if (sp->session_name && !is_token(sp->session_name))
        return tr_printf(t, "sessionName \"%s\" is not a valid %s name (RFC 9110 token)",
                         sp->session_name, sp->type == GW_SESSION_HEADER ? "header" : "cookie");
    if (sp->session_name && sp->type == GW_SESSION_HEADER && header_is_ours(sp->session_name))
        return tr_printf(t, "sessionName \"%s\" names a header the gateway handles itself",
                         sp->session_name);
    if (sp->absolute_timeout_ms == 0)
        return "absoluteTimeout must be more than 0";
    if (sp->idle_timeout_ms == 0)
        return "idleTimeout must be more than 0";
    return NULL;
}

const char *
tr_session_unsupported(struct tr *t, const struct gw_session_persistence *sp)
{
    return unsupported(t, sp);
}

/* "1h", "90s", "250ms": what a duration was, short. */
static const char *
dur(struct tr *t, int64_t ms)
{
    if (ms < 0)
        return "none";
    if (ms % 1000)
        return tr_printf(t, "%lldms", (long long)ms);
    return tr_printf(t, "%llds", (long long)(ms / 1000));
}

void
tr_session_route(struct tr *t, struct rt *r)
{
    size_t n = rule_count(r);
    struct gw_buf note, bad;
    gw_buf_init(&note, 64 * 1024);
    gw_buf_init(&bad, 64 * 1024);
    size_t nbad = 0;
    for (size_t i = 0; i < n && i < 64; i++) {
        const struct gw_session_persistence *sp = rule_session(r, i);
        /* The rule's own wins over its Service's XBackendTrafficPolicy. */
        const struct gw_meta *from = NULL;
        if (!sp && !(sp = tr_xbtp_session(t, r, i, &from)))
            continue;
        const char *why = unsupported(t, sp);
        if (why) {
            r->sp_dropped |= (uint64_t)1 << i;
            gw_buf_appendf(&bad, "%srule %zu: sessionPersistence: %s", nbad++ ? "; " : "", i, why);
            continue;
        }
        bool cookie = sp->type != GW_SESSION_HEADER;
        bool permanent = cookie && sp->cookie_config &&
                         sp->cookie_config->lifetime_type == GW_LIFETIME_PERMANENT;
        gw_buf_appendf(&note, "%srule %zu %s %s", note.len ? ", " : "", i,
                       cookie ? "Cookie" : "Header",
                       sp->session_name ? sp->session_name : "(generated name)");
        if (cookie)
            gw_buf_appendf(&note, " (%s)", permanent ? "Permanent, Max-Age" : "Session");
        gw_buf_appendf(&note, " absoluteTimeout %s idleTimeout %s", dur(t, sp->absolute_timeout_ms),
                       dur(t, sp->idle_timeout_ms));
        if (from)
            gw_buf_appendf(&note, " from XBackendTrafficPolicy %s/%s", from->ns, from->name);
    }
    if (note.len)
        r->sp_note = tr_printf(t, "sessionPersistence served: %.*s", (int)note.len, note.p);
    if (bad.len)
        r->sp_bad = tr_printf(t, "%.*s; %s not served", (int)bad.len, bad.p,
                              nbad > 1 ? "these rules are" : "this rule is");
    r->sp_all_dropped = nbad && nbad == n;
    gw_buf_release(&note);
    gw_buf_release(&bad);
}

/* 32-bit FNV-1a: names made from a rule's identity (not a secret). */
static uint32_t
fnv1a(const char *s, uint32_t h)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

/* The cookie Path of a match: the whole path of Exact and PathPrefix, the
 * literal prefix of a regex up to its last '/' (GEP-1619: /p1/p2/.* /p3
 * gives /p1/p2), never a ';' or a control byte (they would end or break
 * the attribute); "/" when nothing is left. */
static const char *
cookie_path(struct tr *t, enum gw_ir_path_type pt, const char *path)
{
    size_t n = 0;
    bool cut = pt == GW_IR_PATH_REGEX;
    const char *p = path;
    if (pt == GW_IR_PATH_REGEX && *p == '^')
        p++;
    for (; p[n]; n++) {
        unsigned char c = (unsigned char)p[n];
        if (c < 0x21 || c == 0x7f || c == ';' || c == ',' ||
            (pt == GW_IR_PATH_REGEX && strchr(".[]()*+?{}|^$\\", c))) {
            cut = true;
            break;
        }
    }
    if (cut)
        while (n > 0 && p[n - 1] != '/')
            n--;
    while (n > 1 && p[n - 1] == '/' && cut)
        n--;
    if (n == 0 || p[0] != '/')
        return "/";
    return tr_printf(t, "%.*s", (int)n, p);
}

struct gw_ir_session *
tr_session_ir(struct tr *t, const struct rt *r, size_t rule, enum gw_ir_path_type pt,
              const char *path)
{
    const struct gw_session_persistence *sp = rule_session(r, rule);
    if (!sp)
        sp = tr_xbtp_session(t, r, rule, NULL);
    if (!sp)
        return NULL;
    struct gw_ir_session *s = gw_arena_alloc(&t->ir->arena, sizeof(*s));
    char idx[TR_I64_LEN];
    const char *ri = tr_i64(idx, (int64_t)rule);
    s->type = sp->type == GW_SESSION_HEADER ? GW_IR_SESSION_HEADER : GW_IR_SESSION_COOKIE;
    s->permanent = s->type == GW_IR_SESSION_COOKIE && sp->cookie_config &&
                   sp->cookie_config->lifetime_type == GW_LIFETIME_PERMANENT;
    if (sp->session_name) {
        s->name = gw_ir_strdup(t->ir, sp->session_name);
    } else {
        /* Stable for the rule (not its uid: recreating the route keeps the
         * name), distinct between rules. */
        uint32_t h = fnv1a(r->m->ns ? r->m->ns : "", 2166136261u);
        h = fnv1a("/", h);
        h = fnv1a(r->m->name, h);
        h = fnv1a(gw_kind_name(r->kind), h);
        h = fnv1a(ri, h);
        s->name = gw_ir_strdup(t->ir, tr_printf(t, "gw-session-%08x", (unsigned)h));
    }
    s->path = gw_ir_strdup(t->ir, s->type == GW_IR_SESSION_COOKIE ? cookie_path(t, pt, path) : "/");
    s->absolute_ms = sp->absolute_timeout_ms;
    s->idle_ms = sp->idle_timeout_ms;
    s->key_id = gw_ir_strdup(t->ir, tr_printf(t, "%s %s/%s uid=%s rule=%s", gw_kind_name(r->kind),
                                              r->m->ns ? r->m->ns : "", r->m->name,
                                              r->m->uid ? r->m->uid : "", ri));
    s->id = UINT32_MAX;
    return s;
}
