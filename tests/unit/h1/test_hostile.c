/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replays ../shared/hostile/requests.yaml (the HTTP/1.x `cases` and the
 * `te-obfuscation` family) through the h1 parsers the way a strict proxy's
 * front end would, and checks that each case's expected first answer is
 * what the parser makes the proxy say. The file is read with a tiny ad-hoc
 * line reader that understands exactly the subset of YAML it uses (the
 * real loader lives in src/load, which h1 may not depend on). Every case
 * is also fed byte by byte and must give the same answer.
 *
 * A few expectations are the router's job, not the parser's; those are
 * checked through the facts the parser hands over (see check_case).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h1/h1.h"
#include "tap.h"

#include "base/banned.h"

struct hcase {
    char id[80];
    struct gw_buf raw;
    int status[8];
    size_t nstatus;
    bool close_ok;
    int responses;
};

/* Decodes the YAML double-quoted string starting at the '"' at s into b.
 * Returns the position after the closing quote, or NULL. */
static const char *
decode_quoted(const char *s, struct gw_buf *b)
{
    GW_ASSERT(*s == '"');
    for (s++; *s != '\0' && *s != '"'; s++) {
        char c = *s;
        if (c == '\\') {
            s++;
            switch (*s) {
            case 'r':
                c = '\r';
                break;
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case '"':
                c = '"';
                break;
            case '\\':
                c = '\\';
                break;
            case 'x': {
                char hex[3] = {s[1], s[2], 0};
                c = (char)strtol(hex, NULL, 16);
                s += 2;
                break;
            }
            default:
                return NULL;
            }
        }
        GW_ASSERT(gw_buf_append_char(b, c) == 0);
    }
    return *s == '"' ? s + 1 : NULL;
}

static void
parse_status_list(const char *s, struct hcase *c)
{
    s = strchr(s, '[');
    if (s == NULL)
        return;
    for (s++; *s != '\0' && *s != ']';) {
        while (*s == ' ' || *s == ',')
            s++;
        if (strncmp(s, "close", 5) == 0) {
            c->close_ok = true;
            s += 5;
        } else if (*s >= '0' && *s <= '9') {
            char *e;
            long v = strtol(s, &e, 10);
            if (c->nstatus < GW_ARRAY_LEN(c->status))
                c->status[c->nstatus++] = (int)v;
            s = e;
        } else if (*s != ']') {
            s++;
        }
    }
}

/* What the front end of a proxy would do with these bytes on one
 * connection, as far as parsing decides it. */
struct outcome {
    int status;   /* first answer: 200 if the first request was accepted,
                     else the error status; 0 if the input just ends */
    int accepted; /* requests accepted before an error or close */
    const char *error;
    struct gw_h1_request first;
    struct gw_h1_header first_headers[128];
};

static void
run_conn(const char *data, size_t len, struct outcome *o, bool bytewise)
{
    static const struct gw_h1_limits lim = GW_H1_LIMITS_INIT;
    struct gw_h1_header hdrs[128];
    size_t off = 0;
    memset(o, 0, sizeof(*o));
    for (;;) {
        struct gw_h1_request req = {.headers = hdrs, .max_headers = GW_ARRAY_LEN(hdrs)};
        int rc = GW_EAGAIN;
        if (bytewise) {
            for (size_t n = 1; n <= len - off && rc == GW_EAGAIN; n++)
                rc = gw_h1_request_parse(data + off, n, &req, &lim);
        } else if (off < len) {
            rc = gw_h1_request_parse(data + off, len - off, &req, &lim);
        }
        if (rc == GW_EAGAIN)
            return;
        if (rc < 0) {
            if (o->status == 0) {
                o->status = req.error_status;
                o->error = req.error;
            }
            return;
        }
        off += (size_t)rc;
        if (o->accepted == 0) {
            o->first = req;
            memcpy(o->first_headers, hdrs, sizeof(hdrs));
            o->first.headers = o->first_headers;
        }
        if (req.body == GW_H1_BODY_LENGTH) {
            if (req.content_length > len - off)
                return; /* the proxy would wait for the body; the head is fine */
            off += req.content_length;
        } else if (req.body == GW_H1_BODY_CHUNKED) {
            struct gw_h1_chunked ch;
            gw_h1_chunked_init(&ch, &lim);
            size_t used, n = 1;
            struct gw_str d;
            for (;;) {
                size_t all = len - off, avail = bytewise ? GW_MIN(n, all) : all;
                rc = gw_h1_chunked_decode(&ch, data + off, avail, &used, &d);
                off += used;
                if (rc == GW_H1_CHUNKED_DONE)
                    break;
                if (rc < 0 && rc != GW_EAGAIN) {
                    if (o->status == 0) {
                        o->status = 400;
                        o->error = ch.error;
                    }
                    return;
                }
                if (rc == GW_EAGAIN && avail == all)
                    return; /* the proxy would wait for more body */
                /* bytewise: one more byte, or a longer window when a
                 * trailer line was held back */
                n = rc == GW_EAGAIN && used == 0 ? n + 1 : 1;
            }
        }
        if (o->status == 0)
            o->status = 200;
        o->accepted++;
        if (!req.keep_alive)
            return;
    }
}

static bool
status_listed(const struct hcase *c, int st)
{
    for (size_t i = 0; i < c->nstatus; i++)
        if (c->status[i] == st)
            return true;
    return false;
}

static void
check_case(const struct hcase *c)
{
    struct outcome o, ob;
    run_conn(c->raw.p, c->raw.len, &o, false);
    run_conn(c->raw.p, c->raw.len, &ob, true);
    is_int(ob.status, o.status, "%s: byte-by-byte gives the same answer", c->id);
    is_int(ob.accepted, o.accepted, "%s: byte-by-byte accepts as many", c->id);

    /* The router's part: CONNECT is refused, an unrouted authority is 404. */
    if (strcmp(c->id, "rl-connect-not-supported") == 0) {
        ok(o.status == 200 && o.first.method_id == GW_H1_METHOD_CONNECT &&
               o.first.form == GW_H1_FORM_AUTHORITY,
           "%s: CONNECT authority-form recognised (the proxy answers 405)", c->id);
        return;
    }
    if (strcmp(c->id, "host-absolute-form-mismatch") == 0) {
        ok(o.status == 200 && gw_str_eq_cstr(o.first.authority, "evil.test"),
           "%s: routes on the target's authority (the proxy answers 404)", c->id);
        return;
    }
    if (strcmp(c->id, "h2c-upgrade-cleartext") == 0) {
        ok(o.status == 200 && gw_str_eq_cstr(o.first.upgrade, "h2c") &&
               gw_h1_headers_is_hop_by_hop(o.first.headers, o.first.nheaders,
                                           GW_STR("HTTP2-Settings")),
           "%s: Upgrade h2c seen, HTTP2-Settings is hop-by-hop", c->id);
        return;
    }
    bool good = status_listed(c, o.status) || (o.status == 0 && c->close_ok);
    ok(good, "%s: answer %d is expected", c->id, o.status);
    if (!good)
        diag("  first error: %s", o.error ? o.error : "(none)");
    if (c->responses > 0)
        is_int(o.accepted, c->responses, "%s: %d requests", c->id, c->responses);
    if (strcmp(c->id, "pipeline-after-connection-close") == 0)
        ok(o.accepted == 1 && !o.first.keep_alive, "%s: stops after close", c->id);
}

/* te-obfuscation: any reading that sees Transfer-Encoding ends in 4xx/5xx;
 * otherwise the request is framed by Content-Length with no TE field. */
static void
check_family(const char *name, const struct gw_buf *tmpl, const struct gw_buf *bytes, size_t nbytes)
{
    for (size_t i = 0; i < nbytes; i++) {
        struct gw_buf raw;
        gw_buf_init(&raw, 1 << 20);
        const char *hole = memmem(tmpl->p, tmpl->len, "{B}", 3);
        GW_ASSERT(hole != NULL);
        gw_buf_append(&raw, tmpl->p, (size_t)(hole - tmpl->p));
        gw_buf_append(&raw, bytes[i].p, bytes[i].len);
        gw_buf_append(&raw, hole + 3, tmpl->len - (size_t)(hole + 3 - tmpl->p));
        struct outcome o;
        run_conn(raw.p, raw.len, &o, false);
        bool good;
        if (o.status >= 400)
            good = o.status != 404;
        else
            good = o.first.body == GW_H1_BODY_LENGTH &&
                   gw_h1_headers_find(o.first.headers, o.first.nheaders, 0,
                                      GW_STR("Transfer-Encoding")) == o.first.nheaders;
        ok(good, "te-obfuscation %s byte 0x%02x: te-cl-consistent (answer %d)", name,
           (unsigned char)bytes[i].p[0], o.status);
        gw_buf_release(&raw);
    }
}

static void
run_file(const char *path)
{
    size_t len;
    char *text = tap_read_file(path, &len);
    if (text == NULL) {
        ok(true, "# SKIP %s not readable", path);
        return;
    }

    enum { NONE, CASES, FAMILY, OTHER } section = NONE;
    struct hcase c;
    bool have = false, in_expect = false;
    int ncases = 0;
    struct gw_buf bytes[32];
    size_t nbytes = 0;
    memset(&c, 0, sizeof(c));

    for (char *line = text, *next; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (line[0] != ' ' && line[0] != '#' && line[0] != '\0') {
            if (have) {
                check_case(&c);
                gw_buf_release(&c.raw);
                have = false;
                ncases++;
            }
            section = strncmp(line, "cases:", 6) == 0      ? CASES
                      : strncmp(line, "families:", 9) == 0 ? FAMILY
                                                           : OTHER;
            continue;
        }
        if (section == CASES) {
            if (strncmp(line, "  - id: ", 8) == 0) {
                if (have) {
                    check_case(&c);
                    gw_buf_release(&c.raw);
                    ncases++;
                }
                memset(&c, 0, sizeof(c));
                snprintf(c.id, sizeof(c.id), "%s", line + 8);
                gw_buf_init(&c.raw, 1 << 20);
                have = true;
                in_expect = false;
            } else if (have && strncmp(line, "    raw: \"", 10) == 0) {
                GW_ASSERT(decode_quoted(line + 9, &c.raw) != NULL);
            } else if (have && strncmp(line, "      - \"", 9) == 0) {
                GW_ASSERT(decode_quoted(line + 8, &c.raw) != NULL);
            } else if (have && strncmp(line, "      - {repeat: ", 17) == 0) {
                long n = strtol(line + 17, NULL, 10);
                struct gw_buf piece;
                gw_buf_init(&piece, 1 << 20);
                GW_ASSERT(decode_quoted(strchr(line, '"'), &piece) != NULL);
                for (long i = 0; i < n; i++)
                    gw_buf_append(&c.raw, piece.p, piece.len);
                gw_buf_release(&piece);
            } else if (have && strncmp(line, "    expect:", 11) == 0) {
                in_expect = true;
            } else if (have && in_expect && strncmp(line, "      status:", 13) == 0) {
                parse_status_list(line, &c);
            } else if (have && in_expect && strncmp(line, "      responses:", 16) == 0) {
                c.responses = (int)strtol(line + 16, NULL, 10);
            }
        } else if (section == FAMILY) {
            if (strncmp(line, "    bytes: [", 12) == 0) {
                for (const char *s = strchr(line, '"'); s != NULL && nbytes < 32;) {
                    gw_buf_init(&bytes[nbytes], 16);
                    s = decode_quoted(s, &bytes[nbytes++]);
                    s = s != NULL ? strchr(s, '"') : NULL;
                }
            } else if (strncmp(line, "      ", 6) == 0 && line[6] != ' ' &&
                       strchr(line, '"') != NULL && strchr(line, ':') != NULL) {
                char name[32];
                snprintf(name, sizeof(name), "%.*s", (int)(strchr(line, ':') - line - 6), line + 6);
                struct gw_buf t;
                gw_buf_init(&t, 4096);
                GW_ASSERT(decode_quoted(strchr(line, '"'), &t) != NULL);
                check_family(name, &t, bytes, nbytes);
                gw_buf_release(&t);
            }
        }
    }
    if (have) {
        check_case(&c);
        gw_buf_release(&c.raw);
        ncases++;
    }
    for (size_t i = 0; i < nbytes; i++)
        gw_buf_release(&bytes[i]);
    ok(ncases >= 80, "read %d HTTP/1.x cases from %s", ncases, path);
    free(text);
}

int
main(int argc, char **argv)
{
    run_file(argc > 1 ? argv[1] : "../shared/hostile/requests.yaml");
    return done_testing();
}
