/*
 * execbox-init: the init (pid 1) of a template sandbox, in C.
 *
 * Why C: a template sandbox's program is forked from the template spawner and joins this
 * init's namespaces (execbox/sandbox/template.py), so the init itself only builds the
 * sandbox and then reaps orphans. Written in Python it was a fork of the spawner's
 * interpreter: its page tables copied, every page it touched copied again, ~5 ms of the
 * machine per sandbox. This one is forked from a small process of its own, started once
 * per template spawner (--forker, below), and costs a few hundred microseconds.
 *
 * It does what execbox.sandbox.child.prepare does, in the same order, from a plan the
 * parent computed (execbox.sandbox.native_init.encode), then reports READY and reaps:
 *
 *   enter cgroup -> unshare mount, net, ipc, uts, cgroup -> hostname -> build the root
 *   on tmpfs -> pivot_root -> rlimits -> drop the bounding set -> become the sandbox
 *   user -> clear caps, no_new_privs, not dumpable -> seccomp -> READY -> reap forever
 *
 * Descriptors: 3 = status pipe (write end), 4 = the plan (a memfd, read from the start),
 * 5 = the program's report pipe, 6 = a network namespace to join (with --join-net).
 * Plan records: 1 tag byte, 4-byte little-endian length, payload (see native_init.py).
 * Frames on the status pipe: 1 kind byte, 4-byte big-endian length, a JSON object.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PLAN_FD 4
#define REPORT_FD 5
#define NET_FD 6 /* with --join-net: the network namespace to join instead of a new one */
#define MAX_ITEMS 64
#define MAX_PLAN (256 * 1024)

struct bind { const char *source, *target; int is_dir, writable; };
struct link { const char *path, *target; };
struct rlim { uint32_t resource; uint64_t soft, hard; };

static struct {
    const char *cgroup_files[8]; int n_cgroup_files;
    const char *hostname, *root;
    struct bind binds[MAX_ITEMS]; int n_binds;
    struct link links[MAX_ITEMS]; int n_links;
    const char *masks[MAX_ITEMS]; int n_masks;
    uint32_t uid, gid, last_cap;
    uint64_t work_bytes, tmp_bytes, inodes;
    struct rlim rlimits[16]; int n_rlimits;
    const unsigned char *bpf; uint32_t bpf_len;
    int idle;
} plan;

static int status_fd = 3; /* the init's; the box's own in a forked program */
static const char *stage = "start";
static char marks[2048];
static size_t marks_len;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void at(const char *name) {
    stage = name;
    if (marks_len < sizeof marks - 64)
        marks_len += (size_t)snprintf(marks + marks_len, sizeof marks - marks_len,
                                      "%s[\"%s\", %llu]", marks_len ? ", " : "", name,
                                      (unsigned long long)now_ns());
}

static void write_all(int fd, const char *data, size_t len) {
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        data += n;
        len -= (size_t)n;
    }
}

/* One write: a frame up to PIPE_BUF reaches the pipe whole, never cut by another
 * writer's (the program writes its STARTED frame on the same pipe). */
static void frame(char kind, const char *json) {
    static char out[4096];
    size_t len = strlen(json);
    if (len > sizeof out - 5) len = sizeof out - 5;
    out[0] = kind;
    out[1] = (char)(len >> 24); out[2] = (char)(len >> 16);
    out[3] = (char)(len >> 8); out[4] = (char)len;
    memcpy(out + 5, json, len);
    write_all(status_fd, out, len + 5);
}

/* Setup failed: say where and why (our own words and paths: no quoting needed beyond
 * dropping the two characters JSON cannot take raw), then die. */
static void fail(const char *what) {
    int err = errno;
    char message[512], clean[512], json[1024];
    snprintf(message, sizeof message, "%s: %s", what, strerror(err));
    size_t j = 0;
    for (size_t i = 0; message[i] && j < sizeof clean - 1; i++)
        clean[j++] = (message[i] == '"' || message[i] == '\\' || (unsigned char)message[i] < 32)
                         ? '?' : message[i];
    clean[j] = 0;
    snprintf(json, sizeof json, "{\"stage\": \"%s\", \"errno\": %d, \"message\": \"%s\"}",
             stage, err, clean);
    frame('E', json);
    _exit(125);
}

#define CHECK(call, what) do { if ((call) < 0) fail(what); } while (0)

/* ---- the plan ---- */

static uint32_t u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t u64(const unsigned char *p) { return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32; }

static void parse_plan(const unsigned char *buf, size_t len) {
    static unsigned char arena[2 * MAX_PLAN];
    size_t used = 0;
    if (len > MAX_PLAN) { errno = E2BIG; fail("a plan too big"); }
    size_t off = 0;
    errno = EINVAL;
    while (off + 5 <= len) {
        char tag = (char)buf[off];
        uint32_t size = u32(buf + off + 1);
        if (size > len - off - 5) fail("a truncated plan");
        unsigned char *p = arena + used; /* each payload copied, then a NUL: strings end */
        memcpy(p, buf + off + 5, size);
        p[size] = 0;
        used += size + 1;
        off += 5 + size;
        const char *s = (const char *)p;
        if ((strchr("UGK", tag) && size != 4) || (strchr("WTI", tag) && size != 8))
            fail("a number record");
        switch (tag) {
        case 'C':
            if (plan.n_cgroup_files == 8) fail("too many cgroup files");
            plan.cgroup_files[plan.n_cgroup_files++] = s;
            break;
        case 'H': plan.hostname = s; break;
        case 'P': plan.root = s; break;
        case 'B': /* flags byte (1 directory, 2 writable), source NUL target */
            if (plan.n_binds == MAX_ITEMS || size < 4) fail("a bind record");
            {
                struct bind *b = &plan.binds[plan.n_binds++];
                b->is_dir = p[0] & 1;
                b->writable = (p[0] >> 1) & 1;
                b->source = s + 1;
                b->target = s + 1 + strlen(s + 1) + 1;
            }
            break;
        case 'L': /* path NUL target */
            if (plan.n_links == MAX_ITEMS) fail("too many links");
            {
                plan.links[plan.n_links].path = s;
                plan.links[plan.n_links++].target = s + strlen(s) + 1;
            }
            break;
        case 'M':
            if (plan.n_masks == MAX_ITEMS) fail("too many masks");
            plan.masks[plan.n_masks++] = s;
            break;
        case 'U': plan.uid = u32(p); break;
        case 'G': plan.gid = u32(p); break;
        case 'K': plan.last_cap = u32(p); break;
        case 'W': plan.work_bytes = u64(p); break;
        case 'T': plan.tmp_bytes = u64(p); break;
        case 'I': plan.inodes = u64(p); break;
        case 'R': /* resource (4), soft (8), hard (8) */
            if (plan.n_rlimits == 16 || size != 20) fail("an rlimit record");
            {
                struct rlim *r = &plan.rlimits[plan.n_rlimits++];
                r->resource = u32(p); r->soft = u64(p + 4); r->hard = u64(p + 12);
            }
            break;
        case 'S': plan.bpf = p; plan.bpf_len = size; break;
        case 'D': plan.idle = 1; break;
        default: fail("an unknown plan record");
        }
    }
    if (off != len || !plan.uid || !plan.gid || !plan.bpf) fail("an incomplete plan");
}

#ifndef EXECBOX_LIBRARY /* the init's own steps */
static void read_plan(void) {
    static unsigned char buf[MAX_PLAN];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(PLAN_FD, buf + len, sizeof buf - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("read the plan");
        if (n == 0) break;
        len += (size_t)n;
        if (len == sizeof buf) { errno = E2BIG; fail("read the plan"); }
    }
    parse_plan(buf, len);
    errno = EINVAL;
    if (!plan.root || !plan.hostname) fail("an incomplete plan");
}

/* ---- the root: execbox.sandbox.mounts.build and pivot ---- */

static char path_buf[4096];

static const char *inside(const char *path) {
    if ((size_t)snprintf(path_buf, sizeof path_buf, "%s%s", plan.root, path) >= sizeof path_buf) {
        errno = ENAMETOOLONG;
        fail(path);
    }
    return path_buf;
}

static void mkdirs(const char *path) {
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    for (char *c = p + 1; *c; c++) {
        if (*c != '/') continue;
        *c = 0;
        if (mkdir(p, 0755) < 0 && errno != EEXIST) fail(p);
        *c = '/';
    }
    if (mkdir(p, 0755) < 0 && errno != EEXIST) fail(p);
}

static void tmpfs(const char *target, unsigned long flags, const char *options) {
    CHECK(mount("tmpfs", target, "tmpfs", flags, options), target);
}

static void write_new(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) return; /* a runtime mount already provides it */
    if (fd < 0) fail(path);
    write_all(fd, text, strlen(text));
    close(fd);
}

static void build_dev(void) {
    static const struct { const char *name; int major, minor; } devices[] = {
        {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}};
    static const char *const fd_links[][2] = {
        {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
        {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}};
    char dev[4096], p[4200], options[128];
    snprintf(dev, sizeof dev, "%s", inside("/dev"));
    tmpfs(dev, MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=755");
    for (size_t i = 0; i < sizeof devices / sizeof *devices; i++) {
        snprintf(p, sizeof p, "%s/%s", dev, devices[i].name);
        CHECK(mknod(p, 0666 | S_IFCHR, makedev(devices[i].major, devices[i].minor)), p);
        CHECK(chmod(p, 0666), p); /* mknod obeys the umask */
    }
    for (size_t i = 0; i < sizeof fd_links / sizeof *fd_links; i++) {
        snprintf(p, sizeof p, "%s/%s", dev, fd_links[i][0]);
        CHECK(symlink(fd_links[i][1], p), p);
    }
    snprintf(p, sizeof p, "%s/shm", dev);
    CHECK(mkdir(p, 0755), p);
    snprintf(options, sizeof options, "size=%llu,nr_inodes=%llu,mode=1777",
             (unsigned long long)plan.tmp_bytes, (unsigned long long)plan.inodes);
    tmpfs(p, MS_NOSUID | MS_NODEV | MS_NOEXEC, options);
    CHECK(mount("none", dev, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
                "size=64k,nr_inodes=64,mode=755"), dev);
}

static void build_root(void) {
    char options[160], text[512];
    CHECK(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL), "make / private");
    tmpfs(plan.root, MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=1024,mode=755");
    static const char *const dirs[] = {"/etc", "/dev", "/proc", "/tmp", "/box"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
        CHECK(mkdir(inside(dirs[i]), 0755), path_buf);
    for (int i = 0; i < plan.n_links; i++)
        CHECK(symlink(plan.links[i].target, inside(plan.links[i].path)), path_buf);
    for (int i = 0; i < plan.n_binds; i++) {
        const struct bind *b = &plan.binds[i];
        char target[4096];
        snprintf(target, sizeof target, "%s", inside(b->target));
        if (b->is_dir) {
            mkdirs(target);
        } else {
            char *slash = strrchr(target, '/');
            *slash = 0;
            mkdirs(target);
            *slash = '/';
            int fd = open(target, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (fd < 0) fail(target);
            close(fd);
        }
        CHECK(mount(b->source, target, NULL, MS_BIND | MS_REC, NULL), target);
        unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV;
        CHECK(mount("none", target, NULL, b->writable ? flags : flags | MS_RDONLY, NULL), target);
    }
    for (int i = 0; i < plan.n_masks; i++)
        tmpfs(inside(plan.masks[i]), MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=4k,nr_inodes=4,mode=755");
    snprintf(text, sizeof text,
             "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nrunner:x:%u:%u:execbox:/tmp:/bin/sh\n",
             plan.uid, plan.gid);
    write_new(inside("/etc/passwd"), text);
    snprintf(text, sizeof text, "root:x:0:\nrunner:x:%u:\n", plan.gid);
    write_new(inside("/etc/group"), text);
    write_new(inside("/etc/hosts"), "127.0.0.1 localhost\n::1 localhost\n");
    write_new(inside("/etc/hostname"), "execbox\n");
    build_dev();
    CHECK(mount("proc", inside("/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2"),
          path_buf);
    snprintf(options, sizeof options, "size=%llu,nr_inodes=%llu,mode=755,uid=%u,gid=%u",
             (unsigned long long)plan.work_bytes, (unsigned long long)plan.inodes, plan.uid,
             plan.gid);
    tmpfs(inside("/box"), MS_NOSUID | MS_NODEV, options);
    snprintf(options, sizeof options, "size=%llu,nr_inodes=%llu,mode=1777",
             (unsigned long long)plan.tmp_bytes, (unsigned long long)plan.inodes);
    tmpfs(inside("/tmp"), MS_NOSUID | MS_NODEV, options);
}

static void pivot(void) {
    CHECK(chdir(plan.root), plan.root);
    CHECK(syscall(SYS_pivot_root, ".", "."), "pivot_root");
    CHECK(umount2(".", MNT_DETACH), "detach the host's root");
    CHECK(chdir("/"), "chdir /");
    CHECK(mount("none", "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL),
          "remount / read-only");
}

#endif

/* ---- the cgroup, rlimits, privileges: the init's steps and a forked program's ---- */

static void enter_cgroup(void) {
    at("cgroup");
    for (int i = 0; i < plan.n_cgroup_files; i++) {
        /* "0" in a v1 tasks file moves only this thread: no threadgroup-lock stall */
        int fd = open(plan.cgroup_files[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1) fail(plan.cgroup_files[i]);
        close(fd);
    }
}

static void set_rlimits(void) {
    at("rlimits");
    for (int i = 0; i < plan.n_rlimits; i++) {
        struct rlimit r = {plan.rlimits[i].soft, plan.rlimits[i].hard};
        CHECK(setrlimit((int)plan.rlimits[i].resource, &r), "setrlimit");
    }
}

static void drop_privileges(int init) {
    at("capabilities");
    for (uint32_t cap = 0; cap <= plan.last_cap; cap++)
        CHECK(prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "drop the bounding set");
    at("user");
    CHECK(setgroups(0, NULL), "setgroups");
    CHECK(setresgid(plan.gid, plan.gid, plan.gid), "setresgid");
    CHECK(setresuid(plan.uid, plan.uid, plan.uid), "setresuid");
    at("capabilities");
    CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient caps");
    struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    CHECK(syscall(SYS_capset, &head, data), "capset");
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
    CHECK(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "not dumpable");
    if (init) /* the uid change cleared it (a program dies with the init's namespace) */
        CHECK(prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "pdeathsig");
    at("seccomp");
    if (plan.bpf_len % sizeof(struct sock_filter)) { errno = EINVAL; fail("seccomp filter"); }
    struct sock_fprog prog = {(unsigned short)(plan.bpf_len / sizeof(struct sock_filter)),
                              (struct sock_filter *)plan.bpf};
    CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0), "seccomp");
}

#ifndef EXECBOX_LIBRARY
static void serve(void);

/* A recycled network namespace (--join-net, fd 6) must not be the one the init started in:
 * the host's. Then it becomes ours. */
static void join_net(void) {
    struct stat given, own;
    CHECK(fstat(NET_FD, &given), "the network namespace given");
    CHECK(stat("/proc/self/ns/net", &own), "this network namespace");
    if (given.st_ino == own.st_ino && given.st_dev == own.st_dev) {
        errno = EINVAL;
        fail("the network namespace given is the host's");
    }
    CHECK(setns(NET_FD, CLONE_NEWNET), "join the network namespace");
    close(NET_FD);
}

static void run_init(int given_net) {
    at("start");
    CHECK(prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "pdeathsig"); /* the spawner died: so do we */
    read_plan();
    CHECK(syscall(SYS_close_range, 0, 2, 0), "close stdio");
    CHECK(syscall(SYS_close_range, PLAN_FD, PLAN_FD, 0), "close the plan");
    CHECK(syscall(SYS_close_range, given_net ? NET_FD + 1 : REPORT_FD + 1, ~0u, 0),
          "close the rest");
    if (plan.idle) { /* a warm build yields to every running request */
        struct sched_param param = {0};
        CHECK(sched_setscheduler(0, SCHED_IDLE, &param), "SCHED_IDLE");
    }
    enter_cgroup();
    at("namespaces");
    if (given_net)
        join_net();
    CHECK(unshare(CLONE_NEWNS | (given_net ? 0 : CLONE_NEWNET) | CLONE_NEWIPC | CLONE_NEWUTS
                  | CLONE_NEWCGROUP), "unshare");
    CHECK(sethostname(plan.hostname, strlen(plan.hostname)), "sethostname");
    at("mounts");
    build_root();
    at("pivot_root");
    pivot();
    set_rlimits();
    drop_privileges(1);
    at("ready");
    char json[2200];
    snprintf(json, sizeof json, "{\"marks\": [%s]}", marks);
    frame('R', json);
    serve();
}

/* The forker (--forker, its socket on fd 3): started once by a template spawner, it forks
 * each init, as pid 1 of a new pid namespace and a child of the spawner (CLONE_PARENT: the
 * spawner reaps it as if it had started it). A fork of this small process costs the machine
 * far less than an exec: an exec'd glibc program asks the CPU for its features and caches
 * with CPUID at start, and on a virtual machine every CPUID traps to the hypervisor (about a
 * sixth of an init's time on the project's VM). A request is one byte (1: join the network
 * namespace passed) with the descriptors status, plan, report[, net] (SCM_RIGHTS); the
 * answer is the init's pid as an int32, or -errno. */
static void become_init(int *fds, int n, int given_net) {
    int high[4];
    for (int i = 0; i < n; i++) /* out of the way of 3..6 first, then into place */
        if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 100)) < 0) _exit(125);
    for (int i = 0; i < n; i++)
        if (dup2(high[i], 3 + i) < 0) _exit(125); /* 3 status, 4 plan, 5 report, 6 net */
    if (syscall(SYS_close_range, 3 + n, ~0u, 0) < 0) _exit(125);
    status_fd = 3;
    run_init(given_net);
}

static void forker(void) {
    CHECK(prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "pdeathsig");
    int own = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
    if (own < 0) _exit(125);
    for (;;) {
        char flag = 0;
        struct iovec iov = {&flag, 1};
        union { struct cmsghdr align; char buf[CMSG_SPACE(4 * sizeof(int))]; } control;
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                             .msg_controllen = sizeof control.buf};
        ssize_t got = recvmsg(3, &msg, MSG_CMSG_CLOEXEC);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) _exit(0); /* the spawner is gone */
        int fds[4], n = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) && n < 4; i++)
                    memcpy(&fds[n++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        int32_t answer;
        if (got != 1 || (msg.msg_flags & MSG_CTRUNC) || n != (flag ? 4 : 3)) {
            answer = -EINVAL;
        } else if (unshare(CLONE_NEWPID) < 0) {
            answer = -errno;
        } else {
            pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
            if (pid == 0) become_init(fds, n, flag);
            answer = pid < 0 ? -errno : pid;
            if (setns(own, CLONE_NEWPID) < 0) abort(); /* its forks must go home again */
        }
        for (int i = 0; i < n; i++) close(fds[i]);
        while (send(3, &answer, sizeof answer, MSG_NOSIGNAL) < 0 && errno == EINTR) {}
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--forker") == 0) forker();
    run_init(argc > 1 && strcmp(argv[1], "--join-net") == 0);
}

/* The program is forked by the template spawner and adopted by this init (its parent
 * exits at once). Once sealed, it writes on fd 5 its pid here and the CPU time its setup
 * took; from then on this is the init of a cold run: reap until the program exits, kill
 * everything left, report. EOF instead: the program failed to start (it reported why). */
static void serve(void) {
    struct { int32_t pid; uint32_t pad; uint64_t cpu_offset_ns; } program;
    size_t got = 0;
    while (got < sizeof program) {
        ssize_t n = read(REPORT_FD, (char *)&program + got, sizeof program - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(0);
        got += (size_t)n;
    }
    close(REPORT_FD);
    uint64_t start = now_ns();
    int status = 0;
    for (;;) {
        pid_t pid = waitpid(-1, &status, 0);
        if (pid == program.pid) break;
        if (pid < 0 && errno != EINTR) fail("wait for the program");
    }
    uint64_t wall = now_ns() - start;
    kill(-1, SIGKILL); /* as pid 1: every other process of the namespace */
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {}
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    uint64_t cpu = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u
                   + (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
    char json[256];
    snprintf(json, sizeof json, "{\"wait_status\": %d, \"cpu_ns\": %llu, \"maxrss_kb\": %ld, "
             "\"wall_ns\": %llu, \"files\": []}", status,
             (unsigned long long)(cpu > program.cpu_offset_ns ? cpu - program.cpu_offset_ns : 0),
             ru.ru_maxrss, (unsigned long long)wall);
    frame('X', json);
    /* Nothing of the sandbox runs any more. Its teardown (this init's exit: the mount and
     * pid namespaces) is the backend's to start, off the request path: it kills this init
     * once the run's answer is out (reaper.py). */
    for (;;) pause();
}
#endif

#ifdef EXECBOX_LIBRARY
/* ---- libexecbox-join.so: the template spawner's fork of a program ----
 *
 * execbox_fork_program forks the calling (single-threaded) spawner into the pid namespace
 * of the init behind init_pidfd, through a vfork child that exits at once so that the init
 * adopts the program. The caller gets 1 (or -errno). The program keeps only the
 * descriptors named, enters the sandbox's cgroup, joins the init's mount, network, ipc,
 * uts and cgroup namespaces (its root becomes the sandbox's), takes stdio, the plan's
 * rlimits and drops to the sandbox user exactly as the init did — bounding set, uid,
 * capabilities, no_new_privs, seccomp — and returns 0 once adopted. On failure it writes
 * an ERROR frame on the status pipe and exits 125: it never returns to the spawner's code
 * unsandboxed. Called through ctypes.PyDLL (the GIL held), with the C library's fork: in
 * C, so that the program writes to almost none of the interpreter's pages before it is
 * sealed (each page a forked interpreter writes is copied). */
static void keep_only(int *keep, int n) {
    for (int i = 0; i < n; i++) /* sort them */
        for (int j = i + 1; j < n; j++)
            if (keep[j] < keep[i]) { int t = keep[i]; keep[i] = keep[j]; keep[j] = t; }
    unsigned int low = 3;
    for (int i = 0; i < n; i++) {
        if (keep[i] < (int)low) continue;
        if ((unsigned int)keep[i] > low)
            CHECK(syscall(SYS_close_range, low, (unsigned int)keep[i] - 1, 0), "close");
        low = (unsigned int)keep[i] + 1;
    }
    CHECK(syscall(SYS_close_range, low, ~0u, 0), "close");
}

static int own_pid_ns = -1; /* the caller's pid namespace, to go back to after a fork */

static int open_own_pid_ns(void) {
    if (own_pid_ns < 0) own_pid_ns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
    return own_pid_ns;
}

/* A new network namespace (only a loopback, down), as a descriptor (close-on-exec), or
 * -errno: made by this thread, which goes back to its own at once. For a template spawner's
 * pool of namespaces, each one lent to one sandbox at a time (template.py says when one may
 * be lent again). */
int execbox_new_netns(void) {
    static int own_net = -1;
    if (own_net < 0 && (own_net = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
        return -errno;
    if (unshare(CLONE_NEWNET) < 0) return -errno;
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int err = fd < 0 ? errno : 0;
    if (setns(own_net, CLONE_NEWNET) < 0) abort(); /* never stay in it */
    return fd < 0 ? -err : fd;
}

static volatile int fork_error; /* written by the vfork child, which shares our memory */

int execbox_fork_program(int init_pidfd, const unsigned char *init_plan, size_t plan_len,
                         int stdout_fd, int stderr_fd, int status, int control, int report) {
    if (open_own_pid_ns() < 0 || setns(init_pidfd, CLONE_NEWPID) < 0) return -errno;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* no handler runs in the vfork child */
    fork_error = 0;
    pid_t middle = vfork();
    if (middle == 0) {
        /* In the init's pid namespace, on our memory: fork the program, and leave, so
         * that the init adopts it (its parent, like any program's; it reaps and reports). */
        pid_t program = fork();
        if (program != 0) {
            if (program < 0) fork_error = errno;
            _exit(0);
        }
        status_fd = status;
        at("join");
        int keep[6] = {stdout_fd, stderr_fd, status, control, report, init_pidfd};
        keep_only(keep, 6);
        parse_plan(init_plan, plan_len); /* the init's: the parts a program needs */
        enter_cgroup();
        at("namespaces");
        CHECK(setns(init_pidfd, CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
                                | CLONE_NEWCGROUP), "join the init's namespaces");
        close(init_pidfd); /* the root and cwd are the sandbox's now */
        CHECK(chdir("/"), "chdir /");
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC); /* the sandbox's: stdin until the order */
        if (null < 0 || dup2(null, 0) < 0 || dup2(stdout_fd, 1) < 0 || dup2(stderr_fd, 2) < 0)
            fail("stdio");
        close(null);
        set_rlimits();
        drop_privileges(0);
        /* becoming the program: dumpable like any (its own /proc entries are its own) */
        CHECK(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable");
        while (getppid() != 1) sched_yield(); /* adopted: the init can wait for it */
        return 0; /* signals stay blocked: the program's start empties the mask */
    }
    int err = middle < 0 ? errno : fork_error;
    if (setns(own_pid_ns, CLONE_NEWPID) < 0) abort(); /* its forks must go home again */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (middle > 0) waitpid(middle, NULL, 0);
    return err ? -err : 1;
}

/* The program fork server: a fork of the template spawner, made once, that only forks
 * programs (execbox_fork_program) on request and never returns to the spawner's Python
 * code. Each fork write-protects every page of the process that forks; the spawner, busy
 * in Python between forks, then took a copy-on-write fault on most pages it wrote. This
 * loop writes to almost none. A request is the init's plan (the message) with the
 * descriptors init_pidfd, stdout, stderr, status, control, report (SCM_RIGHTS). Returns 0
 * in a program, which finds status, control and report in out[0..2]; -1 once the
 * spawner is gone (its socket closed, or it died: PR_SET_PDEATHSIG). */
int execbox_fork_loop(int sock, int *out) {
    static unsigned char plan_buf[MAX_PLAN];
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) return -1;
    for (;;) {
        struct iovec iov = {plan_buf, sizeof plan_buf};
        union { struct cmsghdr align; char buf[CMSG_SPACE(6 * sizeof(int))]; } control;
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                             .msg_controllen = sizeof control.buf};
        ssize_t got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        int fds[6], n = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) && n < 6; i++)
                    memcpy(&fds[n++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (n == 6 && !(msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC))) {
            int done = execbox_fork_program(fds[0], plan_buf, (size_t)got, fds[1], fds[2],
                                            fds[3], fds[4], fds[5]);
            if (done == 0) { /* the program */
                out[0] = fds[3]; out[1] = fds[4]; out[2] = fds[5];
                return 0;
            }
            if (done < 0) { /* the init is gone already, or no fork: say so */
                status_fd = fds[3];
                char json[256];
                snprintf(json, sizeof json, "{\"stage\": \"join\", \"errno\": %d, "
                         "\"message\": \"%s\"}", -done, strerror(-done));
                frame('E', json);
            }
        } else if (n == 6) { /* a plan too big for the message: refused, not dropped */
            status_fd = fds[3];
            frame('E', "{\"stage\": \"join\", \"errno\": 7, "
                       "\"message\": \"the plan is too big for the program server\"}");
        }
        for (int i = 0; i < n; i++) close(fds[i]);
    }
}
#endif
