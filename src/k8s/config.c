/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where the API server is and who we are: a kubeconfig file (its current
 * or a named context, the cluster and user it names) or the in-cluster
 * service-account files, turned into a gw_k8s_config. Relative paths in a
 * kubeconfig are relative to the file's directory, base64 data fields are
 * decoded to PEM, and a service-account token is kept as a file name so
 * the client re-reads it as it rotates. Every error names the file and
 * what is missing in it.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k8s/internal.h"
#include "load/load.h"

#include "base/banned.h"

#define DEFAULT_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_FILE_BYTES (4u << 20)

/* Reads a whole small file; NULL with *rc = -errno or GW_ELIMIT. */
static char *
slurp(const char *path, size_t *len, int *rc)
{
    struct gw_buf b;
    char chunk[4096];
    FILE *f = fopen(path, "rb");
    if (!f) {
        *rc = -errno;
        return NULL;
    }
    gw_buf_init(&b, MAX_FILE_BYTES);
    *rc = 0;
    for (;;) {
        size_t n = fread(chunk, 1, sizeof(chunk), f);
        if (n > 0 && gw_buf_append(&b, chunk, n) < 0) {
            *rc = GW_ELIMIT;
            break;
        }
        if (n < sizeof(chunk)) {
            if (ferror(f))
                *rc = GW_EINVAL;
            break;
        }
    }
    fclose(f);
    if (*rc < 0) {
        gw_buf_release(&b);
        return NULL;
    }
    *len = b.len;
    if (!b.p)
        return gw_xstrdup("");
    return gw_buf_steal(&b);
}

/* Standard or URL base64 (white space skipped, padding optional); heap,
 * NUL-ended, or NULL if malformed. */
static char *
b64_decode(const char *s, size_t n)
{
    char *out = gw_xmalloc(n / 4 * 3 + 4);
    int o = gw_base64_decode((struct gw_str){s, n}, GW_B64_BOTH | GW_B64_SPACE, (uint8_t *)out,
                             n / 4 * 3 + 3, NULL);
    if (o < 0) {
        free(out);
        return NULL;
    }
    out[o] = '\0';
    return out;
}

static char *
trim_dup(const char *p, size_t n)
{
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == '\t'))
        n--;
    while (n > 0 && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {
        p++;
        n--;
    }
    return gw_xstrndup(p, n);
}

static char *
join_path(const char *dir, const char *p)
{
    if (p[0] == '/' || !dir || !dir[0])
        return gw_xstrdup(p);
    return gw_xasprintf("%s/%s", dir, p);
}

static char *
dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return gw_xstrdup(".");
    if (slash == path)
        return gw_xstrdup("/");
    return gw_xstrndup(path, (size_t)(slash - path));
}

GW_PRINTF(3, 4) static int fail(char **err, int rc, const char *fmt, ...)
{
    if (err) {
        struct gw_buf b;
        va_list ap;
        gw_buf_init(&b, 4096);
        va_start(ap, fmt);
        gw_buf_vappendf(&b, fmt, ap);
        va_end(ap);
        *err = b.p ? gw_buf_steal(&b) : gw_xstrdup("error");
    }
    return rc;
}

static int
check_readable(const char *path, const char *what, const char *src, char **err)
{
    if (access(path, R_OK) == 0)
        return 0;
    int rc = -errno;
    return fail(err, rc == GW_ENOMEM ? rc : GW_EINVAL, "%s: %s %s: %s", src, what, path,
                gw_strerror(rc));
}

void
gw_k8s_config_release(struct gw_k8s_config *c)
{
    if (!c)
        return;
    free(c->server);
    free(c->namespace);
    free(c->ca_file);
    free(c->ca_data);
    free(c->token);
    free(c->token_file);
    free(c->cert_file);
    free(c->key_file);
    free(c->cert_data);
    free(c->key_data);
    memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------------------ */
/* In-cluster                                                               */

int
gw_k8s_config_incluster(const char *dir, struct gw_k8s_config *out, char **err)
{
    memset(out, 0, sizeof(*out));
    if (err)
        *err = NULL;
    if (!dir)
        dir = DEFAULT_SA_DIR;
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !host[0])
        return fail(err, GW_ENOTFOUND, "not in a pod: KUBERNETES_SERVICE_HOST is not set");
    if (!port || !port[0])
        return fail(err, GW_EINVAL,
                    "KUBERNETES_SERVICE_HOST is set but KUBERNETES_SERVICE_PORT is not");
    uint64_t pv;
    if (gw_str_to_u64(gw_str_from(port), 65535, &pv) < 0 || pv == 0)
        return fail(err, GW_EINVAL, "KUBERNETES_SERVICE_PORT: invalid port \"%s\"", port);

    int rc;
    struct gw_k8s_config c = {0};
    if (strchr(host, ':') && host[0] != '[')
        c.server = gw_xasprintf("https://[%s]:%s", host, port);
    else
        c.server = gw_xasprintf("https://%s:%s", host, port);
    c.token_file = join_path(dir, "token");
    c.ca_file = join_path(dir, "ca.crt");
    if ((rc = check_readable(c.token_file, "service-account token", "in-cluster config", err)) <
            0 ||
        (rc = check_readable(c.ca_file, "service-account CA certificate", "in-cluster config",
                             err)) < 0)
        goto out;

    /* The namespace file is optional (a pod always has one, a test dir may
     * not). */
    char *ns_path = join_path(dir, "namespace");
    size_t len;
    int nrc;
    char *ns = slurp(ns_path, &len, &nrc);
    free(ns_path);
    if (ns) {
        c.namespace = trim_dup(ns, len);
        free(ns);
        if (!c.namespace[0]) {
            free(c.namespace);
            c.namespace = NULL;
        }
    }
    *out = c;
    return 0;
out:
    gw_k8s_config_release(&c);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Kubeconfig                                                               */

/* The string value of key in map, NULL if absent, null or empty. */
static const char *
str_of(const struct gw_node *map, const char *key)
{
    const struct gw_node *n = gw_node_get(map, key);
    if (!n || n->type == GW_NODE_NULL || !n->text || !n->text[0])
        return NULL;
    return n->text;
}

/* The entry named name of a kubeconfig list (clusters, users, contexts),
 * its inner map under field (cluster, user, context). */
static const struct gw_node *
find_named(const struct gw_node *root, const char *list, const char *field, const char *name)
{
    const struct gw_node *l = gw_node_get(root, list);
    if (!l || l->type != GW_NODE_LIST)
        return NULL;
    for (size_t i = 0; i < l->n; i++) {
        const struct gw_node *e = l->u.items[i];
        const char *nm = str_of(e, "name");
        if (nm && strcmp(nm, name) == 0) {
            const struct gw_node *inner = gw_node_get(e, field);
            return inner && inner->type == GW_NODE_MAP ? inner : NULL;
        }
    }
    return NULL;
}

/* file path field or base64 data field into *file / *data. */
static int
file_or_data(const struct gw_node *map, const char *file_key, const char *data_key, const char *dir,
             const char *src, const char *what, char **file, char **data, char **err)
{
    const char *d = str_of(map, data_key);
    const char *f = str_of(map, file_key);
    if (d) {
        *data = b64_decode(d, strlen(d));
        if (!*data)
            return fail(err, GW_EINVAL, "%s: %s %s: invalid base64", src, what, data_key);
        return 0;
    }
    if (f) {
        *file = join_path(dir, f);
        return check_readable(*file, what, src, err);
    }
    return 0;
}

int
gw_k8s_config_kubeconfig(const char *path, const char *context, struct gw_k8s_config *out,
                         char **err)
{
    memset(out, 0, sizeof(*out));
    if (err)
        *err = NULL;
    char *file = NULL, *dir = NULL, *text = NULL;
    struct gw_docs docs;
    struct gw_diags diags;
    struct gw_k8s_config c = {0};
    int rc;

    gw_docs_init(&docs);
    gw_diags_init(&diags);
    if (path) {
        file = gw_xstrdup(path);
    } else {
        const char *env = getenv("KUBECONFIG");
        const char *home = getenv("HOME");
        if (env && env[0]) {
            /* A list: the first entry (merging several is not supported). */
            const char *colon = strchr(env, ':');
            file = colon ? gw_xstrndup(env, (size_t)(colon - env)) : gw_xstrdup(env);
        } else if (home && home[0]) {
            file = gw_xasprintf("%s/.kube/config", home);
        } else {
            rc = fail(err, GW_EINVAL, "no kubeconfig: neither KUBECONFIG nor HOME is set");
            goto out;
        }
    }
    dir = dir_of(file);

    size_t len;
    text = slurp(file, &len, &rc);
    if (!text) {
        rc = fail(err, rc, "kubeconfig %s: %s", file, gw_strerror(rc));
        goto out;
    }
    if (gw_docs_add_yaml(&docs, file, text, len, &diags) < 0 || docs.n == 0 || !docs.v[0].root ||
        docs.v[0].root->type != GW_NODE_MAP) {
        struct gw_buf b;
        gw_buf_init(&b, 4096);
        if (diags.n > 0)
            gw_diag_format(&diags.v[0], &b);
        else
            gw_buf_appendf(&b, "%s: not a kubeconfig (expected a YAML map)", file);
        rc = fail(err, GW_EINVAL, "kubeconfig %s", b.p ? b.p : file);
        gw_buf_release(&b);
        goto out;
    }
    const struct gw_node *root = docs.v[0].root;

    const char *ctx_name = context ? context : str_of(root, "current-context");
    if (!ctx_name) {
        rc = fail(err, GW_EINVAL, "kubeconfig %s: no current-context (and no context given)", file);
        goto out;
    }
    const struct gw_node *ctx = find_named(root, "contexts", "context", ctx_name);
    if (!ctx) {
        rc = fail(err, GW_EINVAL, "kubeconfig %s: context \"%s\" not found", file, ctx_name);
        goto out;
    }
    const char *cluster_name = str_of(ctx, "cluster");
    if (!cluster_name) {
        rc = fail(err, GW_EINVAL, "kubeconfig %s: context \"%s\" names no cluster", file, ctx_name);
        goto out;
    }
    const struct gw_node *cl = find_named(root, "clusters", "cluster", cluster_name);
    if (!cl) {
        rc = fail(err, GW_EINVAL, "kubeconfig %s: cluster \"%s\" (of context \"%s\") not found",
                  file, cluster_name, ctx_name);
        goto out;
    }
    const char *server = str_of(cl, "server");
    if (!server) {
        rc =
            fail(err, GW_EINVAL, "kubeconfig %s: cluster \"%s\" has no server", file, cluster_name);
        goto out;
    }
    size_t slen = strlen(server);
    while (slen > 0 && server[slen - 1] == '/')
        slen--;
    c.server = gw_xstrndup(server, slen);
    const char *ns = str_of(ctx, "namespace");
    if (ns)
        c.namespace = gw_xstrdup(ns);

    char *src = gw_xasprintf("kubeconfig %s: cluster \"%s\"", file, cluster_name);
    rc = file_or_data(cl, "certificate-authority", "certificate-authority-data", dir, src,
                      "certificate-authority", &c.ca_file, &c.ca_data, err);
    free(src);
    if (rc < 0)
        goto out;
    if (strncmp(c.server, "https://", 8) == 0 && !c.ca_file && !c.ca_data) {
        rc = fail(err, GW_EINVAL,
                  "kubeconfig %s: cluster \"%s\" has neither certificate-authority nor "
                  "certificate-authority-data (server certificates are always verified)",
                  file, cluster_name);
        goto out;
    }

    const char *user_name = str_of(ctx, "user");
    if (user_name) {
        const struct gw_node *u = find_named(root, "users", "user", user_name);
        if (!u) {
            rc = fail(err, GW_EINVAL, "kubeconfig %s: user \"%s\" (of context \"%s\") not found",
                      file, user_name, ctx_name);
            goto out;
        }
        src = gw_xasprintf("kubeconfig %s: user \"%s\"", file, user_name);
        const char *tok = str_of(u, "token");
        const char *tokf = str_of(u, "tokenFile");
        if (tok) {
            c.token = gw_xstrdup(tok);
        } else if (tokf) {
            c.token_file = join_path(dir, tokf);
            rc = check_readable(c.token_file, "tokenFile", src, err);
        }
        if (rc == 0)
            rc = file_or_data(u, "client-certificate", "client-certificate-data", dir, src,
                              "client-certificate", &c.cert_file, &c.cert_data, err);
        if (rc == 0)
            rc = file_or_data(u, "client-key", "client-key-data", dir, src, "client-key",
                              &c.key_file, &c.key_data, err);
        if (rc == 0 && (c.cert_file || c.cert_data) != (c.key_file || c.key_data))
            rc = fail(err, GW_EINVAL, "%s: client-certificate without client-key (or the reverse)",
                      src);
        if (rc == 0 && !c.token && !c.token_file && !c.cert_file && !c.cert_data &&
            (gw_node_get(u, "exec") || gw_node_get(u, "auth-provider")))
            rc = fail(err, GW_EINVAL,
                      "%s: exec and auth-provider credentials are not supported (use a token, "
                      "tokenFile or client certificate)",
                      src);
        free(src);
        if (rc < 0)
            goto out;
    }
    *out = c;
    memset(&c, 0, sizeof(c));
    rc = 0;
out:
    gw_k8s_config_release(&c);
    gw_diags_release(&diags);
    gw_docs_release(&docs);
    free(text);
    free(dir);
    free(file);
    return rc;
}
