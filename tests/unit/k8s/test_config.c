/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the k8s configuration (config.c): kubeconfig files written
 * to a temporary directory (current-context and a named one, relative and
 * absolute CA paths, base64 CA and client credentials, token and
 * tokenFile, trailing slashes, every missing piece named in the error),
 * and the in-cluster configuration from a temporary service-account
 * directory and the environment (IPv4 and bracketed IPv6 hosts).
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k8s/internal.h"
#include "tap.h"

#include "base/banned.h"

static char tmpdir[] = "/tmp/gw-k8s-config-XXXXXX";

static char *
path_of(const char *name)
{
    return gw_xasprintf("%s/%s", tmpdir, name);
}

static void
write_file(const char *name, const char *text)
{
    char *p = path_of(name);
    FILE *f = fopen(p, "wb");
    GW_ASSERT(f != NULL);
    fwrite(text, 1, strlen(text), f);
    fclose(f);
    free(p);
}

static bool
contains(const char *s, const char *sub)
{
    return s && strstr(s, sub) != NULL;
}

static const char kc_basic[] = "apiVersion: v1\n"
                               "kind: Config\n"
                               "current-context: admin\n"
                               "clusters:\n"
                               "- name: c1\n"
                               "  cluster:\n"
                               "    server: https://127.0.0.1:6443/\n"
                               "    certificate-authority: ca.crt\n"
                               "- name: c2\n"
                               "  cluster:\n"
                               "    server: https://[::1]:8443\n"
                               "    certificate-authority-data: SGVsbG8sIENBIQ==\n"
                               "users:\n"
                               "- name: admin\n"
                               "  user:\n"
                               "    token: s3cret\n"
                               "- name: sa\n"
                               "  user:\n"
                               "    tokenFile: tok\n"
                               "- name: cert\n"
                               "  user:\n"
                               "    client-certificate-data: Q0VSVA==\n"
                               "    client-key: key.pem\n"
                               "contexts:\n"
                               "- name: admin\n"
                               "  context:\n"
                               "    cluster: c1\n"
                               "    user: admin\n"
                               "    namespace: team-a\n"
                               "- name: sa\n"
                               "  context: {cluster: c2, user: sa}\n"
                               "- name: cert\n"
                               "  context: {cluster: c2, user: cert}\n"
                               "- name: nouser\n"
                               "  context: {cluster: c2, user: ghost}\n"
                               "- name: nocluster\n"
                               "  context: {cluster: ghost, user: admin}\n";

static void
test_kubeconfig(void)
{
    struct gw_k8s_config c;
    char *err = NULL;
    write_file("ca.crt", "CA PEM\n");
    write_file("tok", "tokentoken\n");
    write_file("key.pem", "KEY\n");
    write_file("kubeconfig", kc_basic);
    char *kc = path_of("kubeconfig");
    char *ca = path_of("ca.crt");

    int rc = gw_k8s_config_kubeconfig(kc, NULL, &c, &err);
    is_int(rc, 0, "current-context parses (%s)", err ? err : "");
    is_str(c.server, "https://127.0.0.1:6443", "server without trailing slash");
    is_str(c.ca_file, ca, "relative CA path resolved against the kubeconfig's directory");
    ok(c.ca_data == NULL, "no CA data");
    is_str(c.token, "s3cret", "token");
    ok(c.token_file == NULL, "no token file");
    is_str(c.namespace, "team-a", "context namespace");
    gw_k8s_config_release(&c);
    free(err);
    err = NULL;

    rc = gw_k8s_config_kubeconfig(kc, "sa", &c, &err);
    is_int(rc, 0, "named context parses");
    is_str(c.server, "https://[::1]:8443", "IPv6 server");
    is_str(c.ca_data, "Hello, CA!", "certificate-authority-data decoded");
    ok(c.ca_file == NULL, "no CA file");
    char *tok = path_of("tok");
    is_str(c.token_file, tok, "tokenFile resolved");
    ok(c.token == NULL, "token not read eagerly");
    ok(c.namespace == NULL, "no namespace");
    free(tok);
    gw_k8s_config_release(&c);

    rc = gw_k8s_config_kubeconfig(kc, "cert", &c, &err);
    is_int(rc, 0, "client certificate context parses");
    is_str(c.cert_data, "CERT", "client-certificate-data decoded");
    char *key = path_of("key.pem");
    is_str(c.key_file, key, "client-key path resolved");
    free(key);
    gw_k8s_config_release(&c);

    rc = gw_k8s_config_kubeconfig(kc, "missing", &c, &err);
    is_int(rc, GW_EINVAL, "unknown context");
    ok(contains(err, "context \"missing\" not found") && contains(err, kc),
       "error names the context and the file: %s", err ? err : "");
    free(err);
    err = NULL;

    rc = gw_k8s_config_kubeconfig(kc, "nouser", &c, &err);
    is_int(rc, GW_EINVAL, "unknown user");
    ok(contains(err, "user \"ghost\""), "error names the user: %s", err ? err : "");
    free(err);
    err = NULL;

    rc = gw_k8s_config_kubeconfig(kc, "nocluster", &c, &err);
    is_int(rc, GW_EINVAL, "unknown cluster");
    ok(contains(err, "cluster \"ghost\""), "error names the cluster: %s", err ? err : "");
    free(err);
    err = NULL;

    /* A CA file that is not there. */
    unlink(ca);
    rc = gw_k8s_config_kubeconfig(kc, NULL, &c, &err);
    is_int(rc, GW_EINVAL, "missing CA file");
    ok(contains(err, ca) && contains(err, "certificate-authority"), "error names the CA file: %s",
       err ? err : "");
    free(err);
    err = NULL;
    write_file("ca.crt", "CA PEM\n");
    free(ca);

    /* No CA at all for https. */
    write_file("noca", "current-context: x\n"
                       "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
                       "contexts: [{name: x, context: {cluster: c}}]\n");
    char *noca = path_of("noca");
    rc = gw_k8s_config_kubeconfig(noca, NULL, &c, &err);
    is_int(rc, GW_EINVAL, "https without a CA");
    ok(contains(err, "certificate-authority"), "error says the CA is missing: %s", err ? err : "");
    free(err);
    err = NULL;
    free(noca);

    /* Plain http with no CA and no user is fine. */
    write_file("plain", "current-context: x\n"
                        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:8080'}}]\n"
                        "contexts: [{name: x, context: {cluster: c}}]\n");
    char *plain = path_of("plain");
    rc = gw_k8s_config_kubeconfig(plain, NULL, &c, &err);
    is_int(rc, 0, "plain http");
    is_str(c.server, "http://127.0.0.1:8080", "plain server");
    ok(!c.token && !c.token_file && !c.cert_file, "no credentials");
    gw_k8s_config_release(&c);
    free(plain);

    /* No current-context. */
    write_file("nocur", "clusters: []\ncontexts: []\n");
    char *nocur = path_of("nocur");
    rc = gw_k8s_config_kubeconfig(nocur, NULL, &c, &err);
    is_int(rc, GW_EINVAL, "no current-context");
    ok(contains(err, "current-context"), "error says so: %s", err ? err : "");
    free(err);
    err = NULL;
    free(nocur);

    /* Bad base64, bad YAML, missing file. */
    write_file("b64", "current-context: x\n"
                      "clusters: [{name: c, cluster: {server: 'https://h:1', "
                      "certificate-authority-data: '!!!'}}]\n"
                      "contexts: [{name: x, context: {cluster: c}}]\n");
    char *b64 = path_of("b64");
    rc = gw_k8s_config_kubeconfig(b64, NULL, &c, &err);
    is_int(rc, GW_EINVAL, "bad base64");
    ok(contains(err, "base64"), "error says base64: %s", err ? err : "");
    free(err);
    err = NULL;
    free(b64);

    write_file("bad", "current-context: [x\n");
    char *bad = path_of("bad");
    rc = gw_k8s_config_kubeconfig(bad, NULL, &c, &err);
    is_int(rc, GW_EINVAL, "bad YAML");
    ok(contains(err, bad), "error names the file: %s", err ? err : "");
    free(err);
    err = NULL;
    free(bad);

    char *none = path_of("does-not-exist");
    rc = gw_k8s_config_kubeconfig(none, NULL, &c, &err);
    is_int(rc, -ENOENT, "missing kubeconfig");
    ok(contains(err, none), "error names the file: %s", err ? err : "");
    free(err);
    err = NULL;
    free(none);

    /* $KUBECONFIG when no path is given. */
    setenv("KUBECONFIG", kc, 1);
    rc = gw_k8s_config_kubeconfig(NULL, NULL, &c, &err);
    is_int(rc, 0, "$KUBECONFIG used");
    is_str(c.token, "s3cret", "its current context");
    gw_k8s_config_release(&c);
    unsetenv("KUBECONFIG");
    free(kc);
}

static void
test_incluster(void)
{
    struct gw_k8s_config c;
    char *err = NULL;
    char *sa = path_of("sa");
    mkdir(sa, 0700);
    write_file("sa/token", "abc\n");
    write_file("sa/ca.crt", "CA\n");
    write_file("sa/namespace", "gatehouse-system\n");

    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    int rc = gw_k8s_config_incluster(sa, &c, &err);
    is_int(rc, GW_ENOTFOUND, "not in a pod without KUBERNETES_SERVICE_HOST");
    free(err);
    err = NULL;

    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    rc = gw_k8s_config_incluster(sa, &c, &err);
    is_int(rc, GW_EINVAL, "host without port");
    ok(contains(err, "KUBERNETES_SERVICE_PORT"), "error names the port variable: %s",
       err ? err : "");
    free(err);
    err = NULL;

    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    rc = gw_k8s_config_incluster(sa, &c, &err);
    is_int(rc, 0, "in-cluster config");
    is_str(c.server, "https://10.96.0.1:443", "server");
    char *p = path_of("sa/token");
    is_str(c.token_file, p, "token kept as a file (rotation)");
    free(p);
    ok(c.token == NULL, "token not read eagerly");
    p = path_of("sa/ca.crt");
    is_str(c.ca_file, p, "CA file");
    free(p);
    is_str(c.namespace, "gatehouse-system", "namespace trimmed");
    gw_k8s_config_release(&c);

    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    rc = gw_k8s_config_incluster(sa, &c, &err);
    is_int(rc, 0, "IPv6 in-cluster config");
    is_str(c.server, "https://[fd00::1]:443", "IPv6 host bracketed");
    gw_k8s_config_release(&c);

    p = path_of("sa/namespace");
    unlink(p);
    free(p);
    rc = gw_k8s_config_incluster(sa, &c, &err);
    is_int(rc, 0, "namespace file optional");
    ok(c.namespace == NULL, "no namespace");
    gw_k8s_config_release(&c);

    p = path_of("sa/token");
    unlink(p);
    rc = gw_k8s_config_incluster(sa, &c, &err);
    is_int(rc, GW_EINVAL, "missing token");
    ok(contains(err, p) && contains(err, "token"), "error names the token file: %s",
       err ? err : "");
    free(err);
    err = NULL;
    free(p);

    setenv("KUBERNETES_SERVICE_PORT", "http", 1);
    rc = gw_k8s_config_incluster(sa, &c, &err);
    is_int(rc, GW_EINVAL, "bad port");
    free(err);
    err = NULL;

    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    gw_k8s_config_release(NULL);
    free(sa);
}

static void
cleanup(void)
{
    static const char *const names[] = {
        "ca.crt", "tok", "key.pem",  "kubeconfig", "noca",         "plain", "nocur",
        "b64",    "bad", "sa/token", "sa/ca.crt",  "sa/namespace", "sa",
    };
    for (size_t i = 0; i < GW_ARRAY_LEN(names); i++) {
        char *p = path_of(names[i]);
        if (unlink(p) < 0)
            rmdir(p);
        free(p);
    }
    rmdir(tmpdir);
}

int
main(void)
{
    if (!mkdtemp(tmpdir)) {
        diag("mkdtemp failed");
        return 1;
    }
    test_kubeconfig();
    test_incluster();
    cleanup();
    return done_testing();
}
