#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static void check(const char *what, int ret) {
    if (ret == 0)
        printf("ESCAPED: %s worked\n", what);
    else
        printf("%s: %s\n", what, strerror(errno));
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    mkdir("/box/mnt", 0755);
    check("mount tmpfs", mount("none", "/box/mnt", "tmpfs", 0, 0));
    check("mount cgroup", mount("cgroup", "/box/mnt", "cgroup", 0, "rdma"));
    check("umount /usr", umount2("/usr", MNT_DETACH));
    check("chroot", chroot("/box"));
    check("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
    check("unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS));
    int fd = open("/proc/self/ns/net", O_RDONLY);
    check("setns(net)", setns(fd, 0));
    printf("CONTAINED\n");
    return 0;
}
