/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd: the one binary, `gatehouse`, and its subcommands. Each subcommand is
 * a row in the table of main.c; its entry point takes the arguments after
 * the subcommand name (argv[0] is the subcommand) and returns the process
 * exit code.
 */
#ifndef GW_CMD_H
#define GW_CMD_H

struct gw_cmd {
    const char *name;
    const char *usage;
    const char *summary;
    int (*exec)(int argc, char **argv);
};

int gw_cmd_check(int argc, char **argv);
int gw_cmd_echo(int argc, char **argv);
int gw_cmd_run(int argc, char **argv);
int gw_cmd_version(int argc, char **argv);

#endif /* GW_CMD_H */
