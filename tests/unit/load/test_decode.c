/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decode tests: (a) every upstream conformance manifest decodes without an
 * error after the runner's placeholder rewrites; (b) every fixture under
 * tests/data/invalid/ is rejected with exactly the diagnostic its first line
 * names ("# expect: file:line:col: Kind ns/name: path: message"); (c) the CRD
 * defaults land in the typed model.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "load/load.h"
#include "tap.h"

#include "base/banned.h"

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted *.yaml names in dir (heap; free each and the array). */
static char **
list_yaml(const char *dir, size_t *n)
{
    char **names = NULL;
    size_t cap = 0;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0)
            continue;
        names = gw_xgrow(names, &cap, *n + 1, sizeof(*names));
        names[(*n)++] = gw_xstrdup(e->d_name);
    }
    closedir(d);
    if (*n)
        qsort(names, *n, sizeof(*names), cmp_names);
    return names;
}

/* Replaces every occurrence of from with to in s (heap in, heap out). */
static char *
replace_all(char *s, const char *from, const char *to)
{
    struct gw_buf b;
    gw_buf_init(&b, 64 * 1024 * 1024);
    size_t flen = strlen(from);
    const char *p = s, *hit;
    while ((hit = strstr(p, from)) != NULL) {
        gw_buf_append(&b, p, (size_t)(hit - p));
        gw_buf_append_cstr(&b, to);
        p = hit + flen;
    }
    gw_buf_append_cstr(&b, p);
    free(s);
    return gw_buf_steal(&b);
}

static void
print_diags(const struct gw_diags *d)
{
    struct gw_buf b;
    gw_buf_init(&b, 1 << 16);
    for (size_t i = 0; i < d->n; i++) {
        gw_buf_reset(&b);
        gw_diag_format(&d->v[i], &b);
        diag("  %s", b.p);
    }
    gw_buf_release(&b);
}

/* Decodes one YAML text into a fresh store; returns the error count. */
static size_t
decode_text(const char *name, const char *text, size_t len, struct gw_store *store,
            struct gw_diags *diags)
{
    struct gw_docs docs;
    gw_docs_init(&docs);
    gw_docs_add_yaml(&docs, name, text, len, diags);
    gw_decode_docs(&docs, store, diags);
    gw_docs_release(&docs);
    return diags->errors;
}

static void
test_conformance(void)
{
    const char *root = tap_conformance_dir();
    if (!root) {
        ok(true, "# SKIP conformance corpus not found");
        return;
    }
    static const char *const subdirs[] = {"base", "tests", "mesh"};
    size_t files = 0, objects = 0;
    for (size_t s = 0; s < GW_ARRAY_LEN(subdirs); s++) {
        char *dir = gw_xasprintf("%s/upstream/%s", root, subdirs[s]);
        size_t n = 0;
        char **names = list_yaml(dir, &n);
        for (size_t i = 0; i < n; i++) {
            char *path = gw_xasprintf("%s/%s", dir, names[i]);
            size_t len = 0;
            char *text = tap_read_file(path, &len);
            if (!text) {
                ok(false, "read %s", path);
                free(path);
                continue;
            }
            /* cases/FORMAT.md section 2: the runner's rewrites. */
            text = replace_all(text, "{GATEWAY_CLASS_NAME}", "gatehouse");
            text = replace_all(text, "PLACEHOLDER_USABLE_ADDRS", "127.0.0.2");
            text = replace_all(text, "PLACEHOLDER_UNUSABLE_ADDRS", "198.51.100.1");
            struct gw_store store;
            struct gw_diags diags;
            gw_store_init(&store);
            gw_diags_init(&diags);
            size_t errors = decode_text(path, text, strlen(text), &store, &diags);
            if (!is_int((long long)errors, 0, "%s/%s decodes cleanly", subdirs[s], names[i]))
                print_diags(&diags);
            is_int((long long)diags.warnings, 0, "%s/%s: no warnings", subdirs[s], names[i]);
            objects += gw_store_size(&store);
            files++;
            gw_diags_release(&diags);
            gw_store_release(&store);
            free(text);
            free(path);
        }
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        free(dir);
    }
    ok(files > 100, "conformance manifests found (%zu files, %zu objects)", files, objects);
}

static void
test_invalid(void)
{
    char *dir = gw_xasprintf("%s/invalid", tap_data_dir());
    size_t n = 0;
    char **names = list_yaml(dir, &n);
    ok(n >= 30, "at least 30 invalid fixtures (%zu)", n);
    struct gw_buf b;
    gw_buf_init(&b, 1 << 16);
    for (size_t i = 0; i < n; i++) {
        char *path = gw_xasprintf("%s/%s", dir, names[i]);
        size_t len = 0;
        char *text = tap_read_file(path, &len);
        const char *tag = "# expect: ";
        if (!text || strncmp(text, tag, strlen(tag)) != 0) {
            ok(false, "%s starts with '%s'", names[i], tag);
            free(text);
            free(path);
            continue;
        }
        const char *want = text + strlen(tag);
        char *want_line = gw_xstrndup(want, strcspn(want, "\n"));
        struct gw_store store;
        struct gw_diags diags;
        gw_store_init(&store);
        gw_diags_init(&diags);
        decode_text(names[i], text, len, &store, &diags);
        gw_buf_reset(&b);
        for (size_t j = 0; j < diags.n; j++) {
            if (diags.v[j].severity == GW_SEV_ERROR) {
                gw_diag_format(&diags.v[j], &b);
                break;
            }
        }
        if (!is_int((long long)diags.errors, 1, "%s: exactly one error", names[i]))
            print_diags(&diags);
        is_str(b.p ? b.p : "", want_line, "%s: the expected diagnostic", names[i]);
        free(want_line);
        gw_diags_release(&diags);
        gw_store_release(&store);
        free(text);
        free(path);
    }
    gw_buf_release(&b);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(dir);
}

static const char minimal[] = "apiVersion: gateway.networking.k8s.io/v1\n"
                              "kind: HTTPRoute\n"
                              "metadata:\n"
                              "  name: minimal\n"
                              "spec:\n"
                              "  parentRefs:\n"
                              "  - name: gw\n"
                              "  rules:\n"
                              "  - backendRefs:\n"
                              "    - name: svc\n"
                              "      port: 8080\n"
                              "  - matches:\n"
                              "    - headers:\n"
                              "      - name: x-a\n"
                              "        value: b\n"
                              "      queryParams:\n"
                              "      - name: q\n"
                              "        value: v\n"
                              "    filters:\n"
                              "    - type: RequestRedirect\n"
                              "      requestRedirect:\n"
                              "        scheme: https\n";

static void
test_defaults(void)
{
    struct gw_store store;
    struct gw_diags diags;
    gw_store_init(&store);
    gw_diags_init(&diags);
    is_int((long long)decode_text("minimal.yaml", minimal, strlen(minimal), &store, &diags), 0,
           "minimal HTTPRoute decodes");
    print_diags(&diags);
    const struct gw_httproute *r = gw_store_httproute(&store, "default", "minimal");
    ok(r != NULL, "route is in the store under namespace default");
    if (!r)
        goto out;
    is_str(r->meta.ns, "default", "namespace defaults to default");
    is_int(r->meta.generation, 1, "generation defaults to 1");
    is_int(r->meta.pos.line, 1, "object position is the document root");
    is_str(r->meta.pos.file, "minimal.yaml", "object position names the file");
    is_int((long long)r->spec.parent_refs.n, 1, "one parentRef");
    const struct gw_parent_ref *p = &r->spec.parent_refs.v[0];
    is_str(p->group, "gateway.networking.k8s.io", "parentRef group default");
    is_str(p->kind, "Gateway", "parentRef kind default");
    ok(p->ns == NULL && p->section_name == NULL && p->port == -1,
       "parentRef optional fields absent");
    is_int((long long)r->spec.rules.n, 2, "two rules");
    const struct gw_http_rule *r0 = &r->spec.rules.v[0];
    is_int((long long)r0->matches.n, 1, "rule without matches gets one match");
    ok(r0->matches.v[0].path && r0->matches.v[0].path->type == GW_PATH_PREFIX,
       "default match is PathPrefix");
    is_str(r0->matches.v[0].path ? r0->matches.v[0].path->value : NULL, "/",
           "default match value is /");
    is_int(r0->matches.v[0].method, GW_METHOD_NONE, "no method by default");
    const struct gw_backend_ref *b = &r0->backend_refs.v[0];
    is_str(b->group, "", "backendRef group default");
    is_str(b->kind, "Service", "backendRef kind default");
    is_int(b->weight, 1, "backendRef weight default");
    is_int(b->port, 8080, "backendRef port");
    const struct gw_http_rule *r1 = &r->spec.rules.v[1];
    const struct gw_http_match *m = &r1->matches.v[0];
    ok(m->path && m->path->type == GW_PATH_PREFIX, "match without path gets PathPrefix");
    is_str(m->path ? m->path->value : NULL, "/", "match without path gets /");
    is_int(m->headers.v[0].type, GW_MATCH_EXACT, "header match type default Exact");
    is_int(m->query_params.v[0].type, GW_MATCH_EXACT, "query match type default Exact");
    const struct gw_redirect *rd = r1->filters.v[0].request_redirect;
    ok(rd != NULL, "redirect filter decoded");
    if (rd) {
        is_int(rd->status_code, 302, "redirect statusCode default 302");
        is_int(rd->port, -1, "redirect port absent");
        is_str(rd->scheme, "https", "redirect scheme");
        ok(rd->hostname == NULL && rd->path == NULL, "redirect hostname/path absent");
    }
    ok(r0->timeouts == NULL && r0->retry == NULL, "no timeouts or retry");
out:
    gw_diags_release(&diags);
    gw_store_release(&store);
}

static const char gateway_text[] =
    "apiVersion: gateway.networking.k8s.io/v1\n"
    "kind: Gateway\n"
    "metadata: {name: gw, namespace: infra, creationTimestamp: '2024-01-02T03:04:05Z'}\n"
    "spec:\n"
    "  gatewayClassName: gatehouse\n"
    "  listeners:\n"
    "  - {name: http, port: 80, protocol: HTTP}\n"
    "  - name: https\n"
    "    port: 443\n"
    "    protocol: https\n"
    "    hostname: '*.example.com'\n"
    "    tls: {certificateRefs: [{name: cert}]}\n"
    "  addresses: [{value: 10.0.0.1}]\n"
    "  allowedListeners: {}\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Namespace\n"
    "metadata: {name: infra, labels: {team: a}}\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Secret\n"
    "metadata: {name: cert, namespace: infra}\n"
    "type: kubernetes.io/tls\n"
    "data: {tls.crt: aGVsbG8=, tls.key: d29ybGQ=}\n"
    "---\n"
    "apiVersion: discovery.k8s.io/v1\n"
    "kind: EndpointSlice\n"
    "metadata: {name: svc-1, namespace: infra, labels: {kubernetes.io/service-name: svc}}\n"
    "addressType: IPv4\n"
    "endpoints: [{addresses: [10.1.1.1]}]\n"
    "ports: [{port: 3000}]\n"
    "---\n"
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata: {name: ignored}\n"
    "---\n"
    "apiVersion: example.com/v1\n"
    "kind: Widget\n"
    "metadata: {name: w}\n"
    "---\n"
    "apiVersion: gateway.networking.k8s.io/v1\n"
    "kind: Gateway\n"
    "metadata: {name: gw, namespace: infra}\n"
    "spec: {gatewayClassName: x, listeners: [{name: a, port: 1, protocol: HTTP}]}\n";

static void
test_gateway_defaults(void)
{
    struct gw_store store;
    struct gw_diags diags;
    gw_store_init(&store);
    gw_diags_init(&diags);
    decode_text("gw.yaml", gateway_text, strlen(gateway_text), &store, &diags);
    is_int((long long)diags.errors, 1, "only the duplicate Gateway is an error");
    is_int((long long)diags.warnings, 1, "one warning: the unknown kind");
    struct gw_buf b;
    gw_buf_init(&b, 4096);
    for (size_t i = 0; i < diags.n; i++) {
        gw_buf_reset(&b);
        gw_diag_format(&diags.v[i], &b);
        if (diags.v[i].severity == GW_SEV_ERROR)
            is_str(b.p,
                   "gw.yaml:41:1: Gateway infra/gw: duplicate object: Gateway infra/gw already "
                   "defined at gw.yaml:1:1",
                   "duplicate names both places");
        else
            is_str(b.p,
                   "gw.yaml:37:1: warning: Widget w: unknown kind Widget (apiVersion "
                   "example.com/v1): ignored",
                   "unknown kind warning");
    }
    gw_buf_release(&b);
    const struct gw_gateway *g = gw_store_gateway(&store, "infra", "gw");
    ok(g != NULL, "gateway stored");
    if (g) {
        is_int(g->meta.creation_ms, 1704164645000LL, "creationTimestamp parsed");
        const struct gw_listener *l = &g->spec.listeners.v[0];
        ok(l->allowed_routes && l->allowed_routes->namespaces &&
               l->allowed_routes->namespaces->from == GW_FROM_SAME,
           "allowedRoutes.namespaces.from defaults to Same");
        is_int(l->proto, GW_PROTO_HTTP, "protocol classified");
        const struct gw_listener *l2 = &g->spec.listeners.v[1];
        is_int(l2->proto, GW_PROTO_HTTPS, "protocol classified case-insensitively");
        ok(l2->tls && l2->tls->mode == GW_TLS_TERMINATE, "tls.mode defaults to Terminate");
        is_str(l2->tls ? l2->tls->certificate_refs.v[0].kind : NULL, "Secret",
               "certificateRef kind default");
        is_str(l2->tls ? l2->tls->certificate_refs.v[0].group : NULL, "",
               "certificateRef group default");
        is_str(g->spec.addresses.v[0].type, "IPAddress", "address type default");
        ok(g->spec.allowed_listeners && g->spec.allowed_listeners->namespaces->from == GW_FROM_NONE,
           "allowedListeners.namespaces.from defaults to None");
    }
    size_t n = 0;
    const struct gw_kv *labels = gw_store_namespace_labels(&store, "infra", &n);
    is_str(gw_kv_get(labels, n, "kubernetes.io/metadata.name"), "infra",
           "namespace gets kubernetes.io/metadata.name");
    is_str(gw_kv_get(labels, n, "team"), "a", "namespace keeps its labels");
    const struct gw_secret *s = gw_store_secret(&store, "infra", "cert");
    const struct gw_bytes *crt = s ? gw_bytes_get(s->data.v, s->data.n, "tls.crt") : NULL;
    is_str(crt ? (const char *)crt->data : NULL, "hello", "secret data is base64-decoded");
    const struct gw_endpointslice *slices[4];
    is_int((long long)gw_store_service_slices(&store, "infra", "svc", slices, 4), 1,
           "slices by service name");
    is_int(slices[0]->endpoints.v[0].conditions.ready, -1, "absent ready is -1");
    is_int((long long)gw_store_size(&store), 4, "four objects stored (Deployment ignored)");
    gw_diags_release(&diags);
    gw_store_release(&store);
}

/* Control characters in configuration (docs/hardening.md): each field class
 * that reaches the wire, with each bad character; "@V@" in a template is
 * the value (a YAML double-quoted body), "@K@" the kind. */
static const char inj_head[] = "apiVersion: gateway.networking.k8s.io/v1\n"
                               "kind: @K@\n"
                               "metadata: {name: r, namespace: ns}\n"
                               "spec:\n"
                               "  parentRefs: [{name: gw}]\n"
                               "  rules:\n";

static const struct {
    const char *kind, *rule, *field;
    bool header_value; /* HTAB and obs-text allowed */
} inj_cases[] = {
    {"HTTPRoute",
     "  - filters:\n    - type: RequestHeaderModifier\n      requestHeaderModifier:\n"
     "        set: [{name: X-A, value: \"@V@\"}]\n",
     "spec.rules[0].filters[0].requestHeaderModifier.set[0].value", true},
    {"HTTPRoute",
     "  - filters:\n    - type: RequestHeaderModifier\n      requestHeaderModifier:\n"
     "        add: [{name: X-A, value: \"@V@\"}]\n",
     "spec.rules[0].filters[0].requestHeaderModifier.add[0].value", true},
    {"HTTPRoute",
     "  - filters:\n    - type: ResponseHeaderModifier\n      responseHeaderModifier:\n"
     "        set: [{name: X-A, value: \"@V@\"}]\n",
     "spec.rules[0].filters[0].responseHeaderModifier.set[0].value", true},
    {"HTTPRoute",
     "  - filters:\n    - type: ResponseHeaderModifier\n      responseHeaderModifier:\n"
     "        add: [{name: X-A, value: \"@V@\"}]\n",
     "spec.rules[0].filters[0].responseHeaderModifier.add[0].value", true},
    {"HTTPRoute",
     "  - backendRefs:\n    - name: svc\n      port: 80\n      filters:\n"
     "      - type: ResponseHeaderModifier\n        responseHeaderModifier:\n"
     "          add: [{name: X-A, value: \"@V@\"}]\n",
     "spec.rules[0].backendRefs[0].filters[0].responseHeaderModifier.add[0].value", true},
    {"HTTPRoute", "  - matches:\n    - headers: [{name: X-A, value: \"@V@\"}]\n",
     "spec.rules[0].matches[0].headers[0].value", true},
    {"GRPCRoute",
     "  - filters:\n    - type: RequestHeaderModifier\n      requestHeaderModifier:\n"
     "        set: [{name: x-a, value: \"@V@\"}]\n",
     "spec.rules[0].filters[0].requestHeaderModifier.set[0].value", true},
    {"GRPCRoute", "  - matches:\n    - headers: [{name: x-a, value: \"@V@\"}]\n",
     "spec.rules[0].matches[0].headers[0].value", true},
    {"HTTPRoute", "  - matches:\n    - path: {type: Exact, value: \"/a@V@\"}\n",
     "spec.rules[0].matches[0].path.value", false},
    {"HTTPRoute", "  - matches:\n    - path: {type: RegularExpression, value: \"/a@V@\"}\n",
     "spec.rules[0].matches[0].path.value", false},
    {"HTTPRoute",
     "  - filters:\n    - type: URLRewrite\n      urlRewrite:\n"
     "        path: {type: ReplaceFullPath, replaceFullPath: \"/a@V@\"}\n",
     "spec.rules[0].filters[0].urlRewrite.path.replaceFullPath", false},
    {"HTTPRoute",
     "  - matches: [{path: {type: PathPrefix, value: /p}}]\n    filters:\n"
     "    - type: RequestRedirect\n      requestRedirect:\n"
     "        path: {type: ReplacePrefixMatch, replacePrefixMatch: \"/a@V@\"}\n",
     "spec.rules[0].filters[0].requestRedirect.path.replacePrefixMatch", false},
    {"HTTPRoute",
     "  - filters:\n    - type: RequestRedirect\n      requestRedirect:\n"
     "        hostname: \"h@V@\"\n",
     "spec.rules[0].filters[0].requestRedirect.hostname", false},
    {"HTTPRoute",
     "  - filters:\n    - type: URLRewrite\n      urlRewrite:\n"
     "        hostname: \"h@V@\"\n",
     "spec.rules[0].filters[0].urlRewrite.hostname", false},
    {"HTTPRoute",
     "  - filters:\n    - type: CORS\n      cors:\n"
     "        allowOrigins: [\"https://a.test@V@\"]\n",
     "spec.rules[0].filters[0].cors.allowOrigins[0]", false},
    {"HTTPRoute",
     "  - filters:\n    - type: CORS\n      cors:\n"
     "        allowHeaders: [\"X-A@V@\"]\n",
     "spec.rules[0].filters[0].cors.allowHeaders[0]", false},
    {"HTTPRoute",
     "  - filters:\n    - type: CORS\n      cors:\n"
     "        exposeHeaders: [\"X-A@V@\"]\n",
     "spec.rules[0].filters[0].cors.exposeHeaders[0]", false},
    {"HTTPRoute",
     "  - filters:\n    - type: CORS\n      cors:\n"
     "        allowMethods: [\"GET@V@\"]\n",
     "spec.rules[0].filters[0].cors.allowMethods[0]", false},
    {"HTTPRoute",
     "  - filters:\n    - type: RequestHeaderModifier\n      requestHeaderModifier:\n"
     "        set: [{name: \"X-A@V@\", value: v}]\n",
     "spec.rules[0].filters[0].requestHeaderModifier.set[0].name", false},
    {"HTTPRoute",
     "  - filters:\n    - type: ResponseHeaderModifier\n      responseHeaderModifier:\n"
     "        remove: [\"X-A@V@\"]\n",
     "spec.rules[0].filters[0].responseHeaderModifier.remove[0]", false},
    {"HTTPRoute", "  - matches:\n    - headers: [{name: \"X-A@V@\", value: v}]\n",
     "spec.rules[0].matches[0].headers[0].name", false},
};

/* Decodes the case with value v; returns the error count, the first error's
 * text in msg. */
static size_t
inj_decode(size_t i, const char *v, struct gw_buf *msg)
{
    char *text = gw_xasprintf("%s%s", inj_head, inj_cases[i].rule);
    text = replace_all(text, "@K@", inj_cases[i].kind);
    text = replace_all(text, "@V@", v);
    struct gw_store store;
    struct gw_diags diags;
    gw_store_init(&store);
    gw_diags_init(&diags);
    size_t errors = decode_text("inj.yaml", text, strlen(text), &store, &diags);
    gw_buf_reset(msg);
    for (size_t j = 0; j < diags.n; j++) {
        if (diags.v[j].severity == GW_SEV_ERROR) {
            gw_diag_format(&diags.v[j], msg);
            break;
        }
    }
    bool stored = gw_store_httproute(&store, "ns", "r") || gw_store_grpcroute(&store, "ns", "r");
    if (errors && stored)
        errors = 0; /* a rejected object must not be stored */
    if (!errors && !stored)
        errors = 1000; /* nor may an accepted one go missing */
    gw_diags_release(&diags);
    gw_store_release(&store);
    free(text);
    return errors;
}

static void
test_control_chars(void)
{
    /* YAML escapes: CR, LF, CR LF + smuggled field, DEL, SOH, ESC, NUL. */
    static const char *const bad[] = {
        "\\r", "\\n", "\\r\\nTransfer-Encoding: chunked", "\\x7f", "\\x01", "\\e", "\\0"};
    struct gw_buf msg;
    gw_buf_init(&msg, 1 << 16);
    for (size_t i = 0; i < GW_ARRAY_LEN(inj_cases); i++) {
        for (size_t k = 0; k < GW_ARRAY_LEN(bad); k++) {
            size_t errors = inj_decode(i, bad[k], &msg);
            const char *m = msg.p ? msg.p : "";
            if (strcmp(bad[k], "\\0") == 0) {
                /* NUL: the YAML front end refuses it before decode. */
                ok(errors >= 1 && strstr(m, "inj.yaml:"), "%s with NUL: refused (%s)",
                   inj_cases[i].field, m);
                continue;
            }
            ok(errors == 1 && strstr(m, inj_cases[i].field) &&
                   (strstr(m, "Invalid value: ") || strstr(m, "Unsupported value: ")) &&
                   strncmp(m, "inj.yaml:", 9) == 0,
               "%s with \"%s\": one error at the field", inj_cases[i].field, bad[k]);
            if (errors != 1 || !strstr(m, inj_cases[i].field))
                diag("  got %zu: %s", errors, m);
        }
        /* HTAB and obs-text (here UTF-8 "é") are fine in header values only. */
        size_t errors = inj_decode(i, "a\\tb \\u00e9", &msg);
        if (inj_cases[i].header_value)
            is_int((long long)errors, 0, "%s: HTAB and obs-text accepted", inj_cases[i].field);
        else
            is_int((long long)errors, 1, "%s: HTAB refused", inj_cases[i].field);
        if (inj_cases[i].header_value) {
            errors = inj_decode(i, "ok \\xff\\x80", &msg);
            is_int((long long)errors, 0, "%s: 0x80+ accepted", inj_cases[i].field);
        }
    }
    /* Header names: the RFC 9110 token grammar, all of tchar accepted. */
    for (size_t i = 0; i < GW_ARRAY_LEN(inj_cases); i++) {
        const char *f = inj_cases[i].field;
        size_t n = strlen(f);
        if (!(n > 5 && strcmp(f + n - 5, ".name") == 0) && !strstr(f, "remove[") &&
            !strstr(f, "Headers["))
            continue;
        is_int((long long)inj_decode(i, "!#$%&'*+-.^_`|~09az", &msg), 0, "%s: tchar accepted",
               inj_cases[i].field);
        static const char *const nontoken[] = {" ", ":", "(", "\\\"", "/", "@", "\\u00e9"};
        for (size_t k = 0; k < GW_ARRAY_LEN(nontoken); k++)
            is_int((long long)inj_decode(i, nontoken[k], &msg), 1, "%s with '%s': refused",
                   inj_cases[i].field, nontoken[k]);
    }
    /* The diagnostic quotes the value escaped, never raw. */
    inj_decode(0, "a\\r\\nb", &msg);
    ok(strstr(msg.p, "\"a\\r\\nb\": must not contain control characters other than HTAB "
                     "(0x0d at byte 1)") != NULL,
       "message: %s", msg.p);
    gw_buf_release(&msg);
}

/* Objects decoded into one arena with one gw_decode_strs share equal
 * strings; without it each has its own copy; apiVersion is a constant. */
static void
test_shared_strings(void)
{
    static const char yaml[] = "apiVersion: gateway.networking.k8s.io/v1\n"
                               "kind: HTTPRoute\n"
                               "metadata: {name: a, namespace: ns}\n"
                               "spec: {parentRefs: [{name: gw}], hostnames: [x.test]}\n"
                               "---\n"
                               "apiVersion: gateway.networking.k8s.io/v1\n"
                               "kind: HTTPRoute\n"
                               "metadata: {name: b, namespace: ns}\n"
                               "spec: {parentRefs: [{name: gw}], hostnames: [y.test]}\n";
    struct gw_docs docs;
    gw_docs_init(&docs);
    struct gw_diags diags;
    gw_diags_init(&diags);
    GW_ASSERT(gw_docs_add_yaml(&docs, "s.yaml", yaml, strlen(yaml), &diags) == 0 && docs.n == 2);
    for (int shared = 0; shared < 2; shared++) {
        struct gw_arena a;
        gw_arena_init(&a, 0);
        struct gw_decode_strs strs = {0};
        struct gw_httproute *r[2];
        for (int i = 0; i < 2; i++) {
            struct gw_meta *m = NULL;
            int rc =
                gw_decode_object_strs(&docs.v[i], &a, "s.yaml", shared ? &strs : NULL, &m, &diags);
            GW_ASSERT(rc == 0 && m && m->kind == GW_KIND_HTTPROUTE);
            r[i] = (struct gw_httproute *)(void *)m;
        }
        is_str(r[1]->meta.ns, "ns", "namespace");
        is_str(r[1]->spec.parent_refs.v[0].name, "gw", "parent name");
        is_str(r[0]->spec.hostnames.v[0], "x.test", "hostname");
        is_str(r[1]->spec.hostnames.v[0], "y.test", "other hostname");
        is_str(r[1]->meta.name, "b", "name");
        ok((r[0]->meta.ns == r[1]->meta.ns) == (shared == 1),
           shared ? "shared: one namespace string" : "not shared: a copy each");
        ok((r[0]->spec.parent_refs.v[0].name == r[1]->spec.parent_refs.v[0].name) == (shared == 1),
           "parent names likewise");
        ok(r[0]->meta.api_version == r[1]->meta.api_version, "apiVersion: the constant");
        gw_arena_release(&a);
    }
    is_int((long long)diags.n, 0, "no diagnostics");
    gw_diags_release(&diags);
    gw_docs_release(&docs);
}

int
main(void)
{
    test_defaults();
    test_gateway_defaults();
    test_conformance();
    test_invalid();
    test_control_chars();
    test_shared_strings();
    return done_testing();
}
