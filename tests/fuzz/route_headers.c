/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for gw_route_headers_apply, the header modifier the proxy
 * runs on every forwarded request and response head. The input, split at
 * '\n', is one line of room (its first byte, mod 24, plus 1, is how many
 * entries the list may hold) then lines: "-name" removes, "=name:value"
 * sets, "+name:value" adds, anything else "name:value" is a field of the
 * request. The result is compared with a plain model that applies each
 * operation to a fresh copy of the list, and with the limit.
 */
#include <stdlib.h>
#include <string.h>

#include "route/route.h"

#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXH 24
#define MAXM 64
#define MAXS 256

/* The model's list: big enough that it never overflows. */
struct list {
    struct gw_h1_header v[MAXH + 3 * MAXM];
    size_t n;
};

static bool
caseeq(struct gw_str a, struct gw_str b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++) {
        unsigned char x = (unsigned char)a.p[i], y = (unsigned char)b.p[i];
        if (x >= 'A' && x <= 'Z')
            x |= 0x20;
        if (y >= 'A' && y <= 'Z')
            y |= 0x20;
        if (x != y)
            return false;
    }
    return true;
}

static void
model_remove(struct list *l, struct gw_str name)
{
    struct list o = {.n = 0};
    for (size_t i = 0; i < l->n; i++)
        if (!caseeq(l->v[i].name, name))
            o.v[o.n++] = l->v[i];
    *l = o;
}

static void
model_set(struct list *l, struct gw_h1_header s)
{
    struct list o = {.n = 0};
    bool placed = false;
    for (size_t i = 0; i < l->n; i++) {
        if (!caseeq(l->v[i].name, s.name))
            o.v[o.n++] = l->v[i];
        else if (!placed) {
            o.v[o.n++] = s;
            placed = true;
        }
    }
    if (!placed)
        o.v[o.n++] = s;
    *l = o;
}

static bool
same(struct gw_str a, struct gw_str b)
{
    return a.len == b.len && (a.len == 0 || a.p == b.p || memcmp(a.p, b.p, a.len) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* NUL-terminated copies: the IR holds C strings. */
    static char text[4096];
    if (size == 0 || size >= sizeof(text))
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    size_t max = (size_t)((unsigned char)text[0] % MAXH) + 1;
    const char *rm[MAXM];
    struct gw_ir_header set[MAXM], add[MAXM];
    struct gw_ir_header_mod mod = {.set = set, .add = add, .remove = rm};
    static struct gw_h1_header in[MAXS];
    size_t nin = 0;
    char *p = memchr(text, '\n', size);
    while (p) {
        *p++ = '\0';
        char *line = p;
        p = strchr(p, '\n');
        if (p)
            *p = '\0';
        char *colon = strchr(line, ':');
        if (line[0] == '-' && mod.nremove < MAXM) {
            rm[mod.nremove++] = line + 1;
        } else if ((line[0] == '=' || line[0] == '+') && colon) {
            *colon = '\0';
            struct gw_ir_header h = {line + 1, colon + 1};
            if (line[0] == '=' && mod.nset < MAXM)
                set[mod.nset++] = h;
            else if (line[0] == '+' && mod.nadd < MAXM)
                add[mod.nadd++] = h;
        } else if (colon && nin < max && nin < MAXS) {
            in[nin++] =
                (struct gw_h1_header){{line, (size_t)(colon - line)}, gw_str_from(colon + 1)};
        }
        if (p)
            p++;
        else
            break;
    }

    static struct list model;
    model.n = nin;
    memcpy(model.v, in, nin * sizeof(*in));
    for (size_t i = 0; i < mod.nremove; i++)
        model_remove(&model, gw_str_from(rm[i]));
    for (size_t i = 0; i < mod.nset; i++)
        model_set(&model,
                  (struct gw_h1_header){gw_str_from(set[i].name), gw_str_from(set[i].value)});
    for (size_t i = 0; i < mod.nadd; i++)
        model.v[model.n++] =
            (struct gw_h1_header){gw_str_from(add[i].name), gw_str_from(add[i].value)};

    struct gw_h1_header h[MAXH];
    memcpy(h, in, nin * sizeof(*in));
    size_t n = nin;
    int rc = gw_route_headers_apply(&mod, h, &n, max);
    if (n > max)
        abort();
    if (model.n > max) {
        if (rc != GW_ELIMIT)
            abort();
        return 0;
    }
    if (rc != 0 || n != model.n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!same(h[i].name, model.v[i].name) || !same(h[i].value, model.v[i].value))
            abort();
    return 0;
}
