/* SPDX-License-Identifier: Apache-2.0 */
/* `gatehouse version`: the build's version and the controller name. */
#include <stdio.h>

#include <nghttp2/nghttp2ver.h>
#include <openssl/opensslv.h>
#include <yaml.h>

#include "base/base.h"
#include "cmd/cmd.h"
#ifdef GW_HAVE_RUN
#include "k8s/k8s.h"
#endif

#include "base/banned.h"

int
gw_cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("gatehouse %s\n", GW_VERSION);
    printf("controllerName: %s\n", GW_CONTROLLER_NAME);
    printf("gatewayAPIVersion: v1.6.1\n");
    printf("built with: %s, nghttp2 %s, libyaml %s\n", OPENSSL_VERSION_TEXT, NGHTTP2_VERSION,
           yaml_get_version_string());
#ifdef GW_HAVE_RUN
    /* Loaded for the Kubernetes mode only: whether it would load here. */
    char client[256];
    gw_k8s_client_describe(client, sizeof(client));
    printf("kubernetes client: %s\n", client);
#endif
    return 0;
}
