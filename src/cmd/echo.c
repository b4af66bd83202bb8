/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `gatehouse echo`: the conformance echo backend (../shared/conformance/
 * ECHO.md). Its behaviour comes from the environment, as upstream's
 * echo-basic; the command line only picks the listen address.
 */
#include "echo/echo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cmd/cmd.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: gatehouse echo [--address ADDR]\n"
               "\n"
               "The conformance echo backend. Listens on ADDR (an IPv4 or IPv6 address;\n"
               "default: every address) and takes everything else from the environment:\n"
               "  mode        GRPC_ECHO_SERVER, TCP_ECHO_SERVER or UDP_ECHO_SERVER (else HTTP)\n"
               "  identity    POD_NAME, NAMESPACE, SERVICE_NAME, INGRESS_NAME\n"
               "  HTTP        HTTP_PORT (3000), H2C_PORT (3001), HTTPS_PORT (8443),\n"
               "              TLS_SERVER_CERT, TLS_SERVER_PRIVKEY, TLS_CLIENT_CACERTS\n"
               "  gRPC        HTTP_PORT (3000), HTTPS_PORT (8443), TLS_SERVER_CERT,\n"
               "              TLS_SERVER_PRIV_KEY\n"
               "  TCP         TCP_PORT (3000), TLS_PORT (8443), TLS_SERVER_CERT,\n"
               "              TLS_SERVER_PRIV_KEY\n"
               "  UDP         UDP_PORT (8080)\n"
               "Stops cleanly (exit 0) on SIGINT or SIGTERM.\n");
}

int
gw_cmd_echo(int argc, char **argv)
{
    struct gw_echo_config cfg;
    gw_echo_config_from_env(&cfg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--address") && i + 1 < argc) {
            cfg.address = argv[++i];
        } else if (!strncmp(a, "--address=", 10)) {
            cfg.address = a + 10;
        } else {
            fprintf(stderr, "gatehouse echo: unknown argument '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    char *err = NULL;
    int rc = gw_echo_run(&cfg, &err);
    if (rc < 0) {
        fprintf(stderr, "gatehouse echo: %s\n", err ? err : gw_strerror(rc));
        free(err);
        return 1;
    }
    return 0;
}
