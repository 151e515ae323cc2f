/*
 * `nnb_bench measure -- COMMAND [ARGS]`: run one contender as a child
 * process and report its peak resident memory from wait4().
 *
 * Linux counts in a child's ru_maxrss the pages it inherited at fork and,
 * at exec, the peak of the memory image it replaces. A large parent (a
 * Python driver with numpy loaded) would therefore inflate every figure.
 * So the driver starts this small program, which forks the contender, and
 * the inherited floor is this program's own few MiB. The driver measures
 * that floor by running /bin/true the same way.
 */
#define _GNU_SOURCE /* wait4 */
#include "nnb_bench.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int nnb_bench_measure(int argc, char **argv)
{
    if (argc > 0 && strcmp(argv[0], "--") == 0) {
        argc--;
        argv++;
    }
    if (argc < 1) {
        fprintf(stderr, "nnb_bench: measure needs a command: nnb_bench measure -- COMMAND\n");
        return 2;
    }

    /* Flush before forking so buffered output is not written twice. */
    fflush(stdout);
    double start = nnb_bench_now();
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "nnb_bench: fork failed: %s\n", strerror(errno));
        return 1;
    }
    if (child == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "nnb_bench: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }

    int wait_status = 0;
    struct rusage usage;
    pid_t waited;
    do {
        waited = wait4(child, &wait_status, 0, &usage);
    } while (waited < 0 && errno == EINTR);
    double seconds = nnb_bench_now() - start;
    if (waited < 0) {
        fprintf(stderr, "nnb_bench: wait4 for %s failed: %s\n", argv[0], strerror(errno));
        return 1;
    }

    int exit_status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status)
                                             : 128 + WTERMSIG(wait_status);
    /* ru_maxrss is in KiB on Linux. */
    printf("maxrss_kib=%ld\n", usage.ru_maxrss);
    printf("process_seconds=%.6f\n", seconds);
    printf("user_seconds=%.6f\n",
           (double)usage.ru_utime.tv_sec + 1e-6 * (double)usage.ru_utime.tv_usec);
    printf("system_seconds=%.6f\n",
           (double)usage.ru_stime.tv_sec + 1e-6 * (double)usage.ru_stime.tv_usec);
    printf("exit_status=%d\n", exit_status);
    return exit_status == 0 ? 0 : 1;
}
