/* Calls that need a privilege the sandbox does not have, or that the filter refuses with
 * an errno: each must fail, and the program carries on. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static void must_fail(const char *what, long ret) {
    if (ret >= 0)
        printf("ESCAPED: %s returned %ld\n", what, ret);
    else
        printf("%s: %s\n", what, strerror(errno));
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    must_fail("setuid(0)", setuid(0));
    must_fail("setgid(0)", setgid(0));
    gid_t g = 0;
    must_fail("setgroups([0])", setgroups(1, &g));
    int fd = open("/box/f", O_CREAT | O_WRONLY, 0644);
    must_fail("fchown(root)", fchown(fd, 0, 0));
    must_fail("mknod /box/mem", mknod("/box/mem", S_IFCHR | 0666, makedev(1, 1)));
    must_fail("setpriority(-20)", setpriority(PRIO_PROCESS, 0, -20));
    struct sched_param sp = {.sched_priority = 50};
    must_fail("sched_setscheduler(SCHED_FIFO)", sched_setscheduler(0, SCHED_FIFO, &sp));
    struct rlimit big = {RLIM_INFINITY, RLIM_INFINITY};
    must_fail("setrlimit(NPROC, inf)", setrlimit(RLIMIT_NPROC, &big));
    must_fail("setrlimit(CORE, inf)", setrlimit(RLIMIT_CORE, &big));
    must_fail("setrlimit(FSIZE, inf)", setrlimit(RLIMIT_FSIZE, &big));
    static char lockme[1 << 20];
    must_fail("mlock(1 MiB)", mlock(lockme, sizeof lockme));
    must_fail("keyctl(JOIN_SESSION)", syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, 0));
    must_fail("add_key", syscall(SYS_add_key, "user", "x", "y", 1, KEY_SPEC_PROCESS_KEYRING));
    struct perf_event_attr pe;
    memset(&pe, 0, sizeof pe);
    pe.size = sizeof pe;
    pe.type = PERF_TYPE_HARDWARE;
    pe.config = PERF_COUNT_HW_INSTRUCTIONS;
    must_fail("perf_event_open", syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));
    char buf[256];
    must_fail("syslog(READ_ALL)", klogctl(3, buf, sizeof buf));
    must_fail("personality(ADDR_NO_RANDOMIZE)", personality(ADDR_NO_RANDOMIZE));
    must_fail("clone3", syscall(435, 0, 0));
    must_fail("fsopen", syscall(430, "tmpfs", 0));
    must_fail("open /proc/1/ns/mnt", open("/proc/1/ns/mnt", O_RDONLY));
    must_fail("open /proc/1/root", open("/proc/1/root/", O_RDONLY | O_DIRECTORY));
    printf("CONTAINED\n");
    return 0;
}
