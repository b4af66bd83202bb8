/* SPDX-License-Identifier: Apache-2.0 */
/* `gatehouse version`: the build's version and the controller name. */
#include <stdio.h>

#include <nghttp2/nghttp2ver.h>
#include <openssl/opensslv.h>
#include <yaml.h>

#include "base/base.h"
#include "cmd/cmd.h"

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
    return 0;
}
