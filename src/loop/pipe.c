/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pipes for splice(2): socket bytes moved socket -> pipe -> socket stay in
 * the kernel (the pipe holds references to their pages), so a proxy that
 * only passes a body or a stream on pays neither copy to user space. Used
 * by l4's TCP streams and by the HTTP/1.1 data plane's bodies of known
 * length. Non-blocking, close-on-exec; no allocation but the pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "base/base.h"
#include "loop/loop.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

void
gw_pipe_init(struct gw_pipe *p)
{
    p->fd[0] = p->fd[1] = -1;
    p->len = p->cap = 0;
}

int
gw_pipe_open(struct gw_pipe *p)
{
    if (p->fd[0] >= 0)
        return 0;
    p->len = 0;
    if (pipe2(p->fd, O_NONBLOCK | O_CLOEXEC) < 0) {
        p->fd[0] = p->fd[1] = -1;
        return -errno;
    }
    int c = fcntl(p->fd[1], F_GETPIPE_SZ);
    p->cap = c > 0 ? (size_t)c : 4096;
    return 0;
}

int
gw_pipe_resize(struct gw_pipe *p, size_t n)
{
    if (n > INT32_MAX)
        return GW_EINVAL;
    int c = fcntl(p->fd[1], F_SETPIPE_SZ, (int)n);
    if (c < 0)
        return -errno;
    p->cap = (size_t)c;
    return 0;
}

void
gw_pipe_release(struct gw_pipe *p)
{
    for (int i = 0; i < 2; i++)
        if (p->fd[i] >= 0)
            close(p->fd[i]);
    gw_pipe_init(p);
}

ssize_t
gw_pipe_fill(struct gw_pipe *p, int fd, size_t n)
{
    ssize_t r = splice(fd, NULL, p->fd[1], NULL, n, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (r > 0)
        p->len += (size_t)r;
    return r;
}

ssize_t
gw_pipe_drain(struct gw_pipe *p, int fd, size_t n)
{
    ssize_t r =
        splice(p->fd[0], NULL, fd, NULL, GW_MIN(n, p->len), SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (r > 0)
        p->len -= (size_t)r;
    return r;
}
