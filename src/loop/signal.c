/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stop signals through a signalfd: SIGINT and SIGTERM are blocked and read
 * as ordinary loop events, so no code ever runs in signal context and the
 * loop stops at a turn boundary with every connection in a known state.
 */
#include <sys/signalfd.h>

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "base/base.h"
#include "loop/internal.h"
#include "loop/loop.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

static void
on_signal(struct gw_io *io, unsigned events)
{
    struct gw_loop *loop = io->data;
    struct signalfd_siginfo si;
    (void)events;
    while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
            gw_loop_stop(loop);
    }
}

int
gw_loop_stop_on_signals(struct gw_loop *loop)
{
    if (loop->has_sigio)
        return 0;
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -errno;
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    gw_io_init(loop, &loop->sigio, fd, on_signal, loop);
    int rc = gw_io_set(&loop->sigio, GW_LOOP_READ);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    loop->has_sigio = true;
    return 0;
}
