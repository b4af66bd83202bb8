/* SPDX-License-Identifier: Apache-2.0 */
/*
 * h1 utilities for callers of the parser: header lookup, hop-by-hop
 * classification, Go-style canonical names, comma-separated lists, method
 * names, host syntax and the status reason table.
 */
#include <string.h>

#include "h1/internal.h"

#include "base/banned.h"

size_t
gw_h1_headers_find(const struct gw_h1_header *h, size_t n, size_t from, struct gw_str name)
{
    for (size_t i = from; i < n; i++)
        if (gw_str_caseeq(h[i].name, name))
            return i;
    return n;
}

bool
gw_h1_headers_is_hop_by_hop(const struct gw_h1_header *h, size_t n, struct gw_str name)
{
    const struct gw_str fixed[] = {
        GW_STR("connection"),        GW_STR("keep-alive"), GW_STR("proxy-connection"), GW_STR("te"),
        GW_STR("transfer-encoding"), GW_STR("upgrade"),    GW_STR("http2-settings"),
    };
    for (size_t i = 0; i < GW_ARRAY_LEN(fixed); i++)
        if (gw_str_caseeq(name, fixed[i]))
            return true;
    for (size_t i = 0; i < n; i++)
        if (H1_LOWER_EQ(h[i].name, "connection") && gw_h1_list_has(h[i].value, name))
            return true;
    return false;
}

void
gw_h1_name_canonical(struct gw_str name, char *out)
{
    for (size_t i = 0; i < name.len; i++) {
        if (!h1_is((unsigned char)name.p[i], H1_TCHAR)) {
            memmove(out, name.p, name.len);
            return;
        }
    }
    bool upper = true;
    for (size_t i = 0; i < name.len; i++) {
        char c = name.p[i];
        if (upper && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (!upper && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        out[i] = c;
        upper = c == '-';
    }
}

bool
gw_h1_list_next(struct gw_str *rest, struct gw_str *item)
{
    const char *p = rest->p, *end = rest->p + rest->len;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        if (p == end) {
            rest->p = end;
            rest->len = 0;
            return false;
        }
        const char *start = p;
        bool quoted = false;
        for (; p < end; p++) {
            if (quoted) {
                if (*p == '\\' && p + 1 < end)
                    p++;
                else if (*p == '"')
                    quoted = false;
            } else if (*p == '"') {
                quoted = true;
            } else if (*p == ',') {
                break;
            }
        }
        struct gw_str s = h1_trim((struct gw_str){start, (size_t)(p - start)});
        rest->p = p;
        rest->len = (size_t)(end - p);
        if (s.len > 0) {
            *item = s;
            return true;
        }
    }
}

bool
gw_h1_list_has(struct gw_str value, struct gw_str token)
{
    struct gw_str item;
    while (gw_h1_list_next(&value, &item))
        if (gw_str_caseeq(item, token))
            return true;
    return false;
}

bool
gw_h1_is_token(struct gw_str s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!h1_is((unsigned char)s.p[i], H1_TCHAR))
            return false;
    return true;
}

enum gw_h1_method
gw_h1_method_from(struct gw_str s)
{
#define M(lit, id)                                                \
    if (s.len == sizeof(lit) - 1 && memcmp(s.p, lit, s.len) == 0) \
    return id
    switch (s.len) {
    case 3:
        M("GET", GW_H1_METHOD_GET);
        M("PUT", GW_H1_METHOD_PUT);
        break;
    case 4:
        M("HEAD", GW_H1_METHOD_HEAD);
        M("POST", GW_H1_METHOD_POST);
        break;
    case 5:
        M("TRACE", GW_H1_METHOD_TRACE);
        M("PATCH", GW_H1_METHOD_PATCH);
        break;
    case 6:
        M("DELETE", GW_H1_METHOD_DELETE);
        break;
    case 7:
        M("CONNECT", GW_H1_METHOD_CONNECT);
        M("OPTIONS", GW_H1_METHOD_OPTIONS);
        break;
    default:
        break;
    }
#undef M
    return GW_H1_METHOD_OTHER;
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool
gw_h1_host_is_valid(struct gw_str s, bool need_port)
{
    const char *p = s.p, *end = s.p + s.len;
    if (p < end && *p == '[') {
        /* IP-literal: hex digits, ':' and '.' (IPv4 tail); IPvFuture is
         * not accepted. */
        p++;
        const char *start = p;
        while (p < end &&
               (is_digit(*p) ||
                (h1_lower((unsigned char)*p) >= 'a' && h1_lower((unsigned char)*p) <= 'f') ||
                *p == ':' || *p == '.'))
            p++;
        if (p == end || *p != ']' || p - start < 2)
            return false;
        p++;
    } else {
        const char *start = p;
        while (p < end && h1_is((unsigned char)*p, H1_REG))
            p++;
        if (p == start && need_port)
            return false;
    }
    if (p == end)
        return !need_port;
    if (*p != ':')
        return false;
    p++;
    if (p == end)
        return !need_port;
    if (end - p > 5)
        return false;
    for (; p < end; p++)
        if (!is_digit(*p))
            return false;
    return true;
}

const char *
gw_h1_status_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 102:
        return "Processing";
    case 103:
        return "Early Hints";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 207:
        return "Multi-Status";
    case 208:
        return "Already Reported";
    case 226:
        return "IM Used";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 305:
        return "Use Proxy";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 418:
        return "I'm a teapot";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 423:
        return "Locked";
    case 424:
        return "Failed Dependency";
    case 425:
        return "Too Early";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 451:
        return "Unavailable For Legal Reasons";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    case 506:
        return "Variant Also Negotiates";
    case 507:
        return "Insufficient Storage";
    case 508:
        return "Loop Detected";
    case 510:
        return "Not Extended";
    case 511:
        return "Network Authentication Required";
    default:
        return "";
    }
}
