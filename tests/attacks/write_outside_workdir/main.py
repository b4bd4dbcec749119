"""Every way of changing something outside /box and /tmp must fail (/proc/self/exe is
the runc CVE-2019-5736 route to the runtime binary)."""
import os

targets = ["/", "/usr", "/usr/bin", "/usr/lib", "/usr/local", "/etc", "/bin", "/lib",
           "/dev", "/proc", "/proc/sys", "/sys", "/root", "/run", "/var", "/home"]
for d in targets:
    path = os.path.join(d, "execbox-was-here")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError:
        pass
    else:
        os.close(fd)
        print(f"ESCAPED: created {path}")
    try:
        os.mkdir(path + ".d")
        print(f"ESCAPED: mkdir in {d}")
    except OSError:
        pass
    try:
        os.symlink("/box", path + ".lnk")
        print(f"ESCAPED: symlink in {d}")
    except OSError:
        pass

for f in ["/etc/passwd", "/etc/hosts", "/etc/hostname", "/etc/group", "/etc/ld.so.cache",
          "/usr/bin/python3", "/usr/lib/os-release", "/bin/sh", "/proc/sys/kernel/hostname",
          "/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches",
          "/proc/sys/kernel/modprobe", "/proc/sysrq-trigger", "/proc/self/oom_score_adj",
          "/sys/kernel/uevent_helper", "/proc/self/exe", "/proc/1/exe", "/sys/fs/cgroup/release_agent",
          os.environ["SECRET_PATH"], os.environ["TMP_SENTINEL"]]:
    try:
        with open(f, "r+b", buffering=0) as fh:
            if f.endswith("oom_score_adj"):
                fh.write(b"-1000")  # lowering it needs CAP_SYS_RESOURCE
            else:
                fh.write(b"x")
        print(f"ESCAPED: wrote {f}")
    except OSError:
        pass
    if f.startswith("/proc/self/"):
        continue  # our own /proc entries are ours to chown (to ourselves) and touch
    for name, call in [("chmod", lambda f=f: os.chmod(f, 0o777)),
                       ("chown", lambda f=f: os.chown(f, os.getuid(), os.getgid())),
                       ("utime", lambda f=f: os.utime(f, (0, 0))),
                       ("rename", lambda f=f: os.rename(f, f + ".moved")),
                       ("unlink", lambda f=f: os.unlink(f)),
                       ("link", lambda f=f: os.link(f, "/box/hardlink"))]:
        try:
            call()
        except OSError:
            continue
        if name == "link":  # a hard link inside /box to a read-only file is harmless
            os.unlink("/box/hardlink")
            continue
        print(f"ESCAPED: {name} {f}")
print("CONTAINED")
