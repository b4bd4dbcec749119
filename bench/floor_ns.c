/* The kernel's floor for a fresh sandbox (bench/floor.py): clone a child with the
 * sandbox's namespaces, give it a read-only root on tmpfs with the runtime bound in, drop
 * to another uid, exit. Level 0: a plain fork; 1: + namespaces (NONET=1: without the
 * network namespace); 2: + the root; 3: + the uid drop. ./floor_ns LEVEL COUNT */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <grp.h>
#include <signal.h>
static int level;
static char stack[2][65536];
static int child(void *arg) {
    if (level >= 2) {
        const char *r = (const char *)arg;
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) _exit(2);
        if (mount("tmpfs", r, "tmpfs", 0, "size=16m")) _exit(3);
        const char *binds[] = {"usr", "lib", "lib64", "bin", "etc", NULL};
        char p[256];
        for (int i = 0; binds[i]; i++) {
            snprintf(p, sizeof p, "%s/%s", r, binds[i]); mkdir(p, 0755);
            char s[64]; snprintf(s, sizeof s, "/%s", binds[i]);
            if (mount(s, p, NULL, MS_BIND | MS_REC, NULL)) _exit(4);
            if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID, NULL)) _exit(5);
        }
        snprintf(p, sizeof p, "%s/proc", r); mkdir(p, 0755);
        if (mount("proc", p, "proc", 0, NULL)) _exit(6);
        snprintf(p, sizeof p, "%s/old", r); mkdir(p, 0755);
        if (syscall(SYS_pivot_root, r, p)) _exit(7);
        chdir("/");
        if (umount2("/old", MNT_DETACH)) _exit(8);
    }
    if (level >= 3) { setgroups(0, NULL); setresgid(60000, 60000, 60000); setresuid(60000, 60000, 60000); }
    _exit(0);
}
int main(int argc, char **argv) {
    level = atoi(argv[1]); int n = atoi(argv[2]);
    char r[64]; snprintf(r, sizeof r, "/tmp/floor/root%d", getpid()); mkdir(r, 0755);
    int flags = SIGCHLD;
    if (level >= 1) flags |= CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
    if (level >= 1 && !getenv("NONET")) flags |= CLONE_NEWNET;
    for (int i = 0; i < n; i++) {
        pid_t pid = clone(child, stack[0] + 65536, flags, r);
        int st; waitpid(pid, &st, 0);
        if (st) { fprintf(stderr, "child status %x\n", st); return 1; }
    }
    return 0;
}
