/* SPDX-License-Identifier: Apache-2.0 */
/*
 * no-io-uring: runs a command in a process where the kernel refuses
 * io_uring, as a locked-down container's seccomp profile does. A seccomp
 * filter makes io_uring_setup fail with ENOSYS (every other system call
 * passes), then the command is exec'd; the filter is inherited by it and
 * by its threads and children. Used by tests/e2e/test_io_fallback.py, so
 * the epoll fallback is tested without the machine's global sysctl.
 *
 *   no-io-uring PROGRAM [ARG...]
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

#if defined(__x86_64__)
#define AUDIT_ARCH_SELF AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_SELF AUDIT_ARCH_AARCH64
#else
#error "no-io-uring: add this architecture's AUDIT_ARCH_ value"
#endif

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: no-io-uring PROGRAM [ARG...]\n");
        return 2;
    }
    struct sock_filter insns[] = {
        /* A foreign architecture's numbers mean other calls: kill. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_SELF, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof(insns) / sizeof(insns[0]), .filter = insns};
    /* Without CAP_SYS_ADMIN a filter needs no_new_privs. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) {
        fprintf(stderr, "no-io-uring: seccomp: %s\n", strerror(errno));
        return 1;
    }
    execvp(argv[1], argv + 1);
    fprintf(stderr, "no-io-uring: %s: %s\n", argv[1], strerror(errno));
    return 127;
}
