/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gatehouse: the Kubernetes Gateway API, controller and data plane in one
 * binary. This file only dispatches to the subcommand named on the command
 * line; the table below is the whole list.
 */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "cmd/cmd.h"

#include "base/banned.h"

static const struct gw_cmd commands[] = {
    {
        .name = "check",
        .usage = "gatehouse check -f PATH",
        .summary = "validate manifests as the API server would and print every error",
        .exec = gw_cmd_check,
    },
    {
        .name = "echo",
        .usage = "gatehouse echo [--address ADDR]",
        .summary = "run the conformance echo backend (ECHO.md)",
        .exec = gw_cmd_echo,
    },
#ifdef GW_HAVE_RUN /* defined by src/cmd/meson.build once the proxy links */
    {
        .name = "run",
        .usage = "gatehouse run -f DIR [--admin ADDR:PORT] [--workers N]",
        .summary = "serve the Gateway API objects in a directory, reloading on change",
        .exec = gw_cmd_run,
    },
#endif
    {
        .name = "version",
        .usage = "gatehouse version",
        .summary = "print the version and the controller name",
        .exec = gw_cmd_version,
    },
};

static void
usage(FILE *f)
{
    fprintf(f, "usage: gatehouse <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < GW_ARRAY_LEN(commands); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'gatehouse <command> --help' for a command's options.\n");
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version"))
        return gw_cmd_version(1, argv + 1);
    for (size_t i = 0; i < GW_ARRAY_LEN(commands); i++) {
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].exec(argc - 1, argv + 1);
    }
    fprintf(stderr, "gatehouse: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
