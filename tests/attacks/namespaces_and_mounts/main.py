"""mount, umount, pivot_root, chroot, unshare, setns, clone(CLONE_NEW*): EPERM; the
cgroup-v1 release_agent escape needs a cgroup mount, which fails like any other."""
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)


def attempt(what, ret):
    err = ctypes.get_errno()
    if ret == 0 or (isinstance(ret, int) and ret > 0 and what.startswith("clone")):
        print(f"ESCAPED: {what} worked")
    elif err != errno.EPERM:
        print(f"{what}: errno {err} ({os.strerror(err)}), EPERM expected")
    else:
        print(f"{what}: EPERM")


os.makedirs("/box/mnt", exist_ok=True)
attempt("mount tmpfs", libc.mount(b"none", b"/box/mnt", b"tmpfs", 0, None))
attempt("mount cgroup", libc.mount(b"cgroup", b"/box/mnt", b"cgroup", 0, b"memory"))
attempt("mount proc", libc.mount(b"proc", b"/box/mnt", b"proc", 0, None))
attempt("bind /", libc.mount(b"/", b"/box/mnt", None, 0x1000, None))  # MS_BIND
attempt("remount / rw", libc.mount(None, b"/", None, 0x20 | 0x1000, None))  # MS_REMOUNT|BIND
attempt("umount /usr", libc.umount2(b"/usr", 2))  # MNT_DETACH
attempt("umount /proc", libc.umount2(b"/proc", 2))
attempt("chroot", libc.chroot(b"/box"))
attempt("pivot_root", libc.syscall(155, b"/box", b"/box/mnt"))
for name, flag in (("user", 0x10000000), ("mnt", 0x20000), ("pid", 0x20000000),
                   ("net", 0x40000000), ("uts", 0x04000000), ("ipc", 0x08000000),
                   ("cgroup", 0x02000000), ("time", 0x80)):
    attempt(f"unshare({name})", libc.unshare(flag))
for ns in ("mnt", "net", "pid", "uts", "ipc", "user", "cgroup"):
    try:
        fd = os.open(f"/proc/self/ns/{ns}", os.O_RDONLY)
    except OSError as e:
        print(f"open ns/{ns}: {e}")
        continue
    attempt(f"setns({ns})", libc.setns(fd, 0))
    os.close(fd)
# clone with a namespace flag: child would exit at once
SIGCHLD = 17
for name, flag in (("user", 0x10000000), ("mnt", 0x20000), ("net", 0x40000000)):
    pid = libc.syscall(56, flag | SIGCHLD, 0, 0, 0, 0)
    if pid == 0:
        os._exit(0)
    if pid > 0:
        os.waitpid(pid, 0)
    attempt(f"clone({name})", pid)
# the cgroup namespace hides the host's cgroup paths
for line in open("/proc/self/cgroup"):
    if line.rstrip().split(":", 2)[2] != "/":
        print(f"ESCAPED: host cgroup path visible: {line.strip()}")
if os.path.exists("/sys/fs/cgroup"):
    print("ESCAPED: /sys/fs/cgroup is visible")
print("CONTAINED")
