"""Kernel knobs through /proc: sysrq, /proc/sys/*, other processes' settings."""
import glob
import os

paths = ["/proc/sysrq-trigger", "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe",
         "/proc/sys/kernel/panic", "/proc/sys/vm/drop_caches", "/proc/sys/vm/overcommit_memory",
         "/proc/sys/net/ipv4/ip_forward", "/proc/sys/fs/file-max", "/proc/sys/kernel/pid_max",
         "/proc/sys/kernel/randomize_va_space", "/proc/1/oom_score_adj", "/proc/1/comm",
         "/proc/self/uid_map", "/proc/self/gid_map", "/proc/self/setgroups",
         "/proc/self/attr/current"]
paths += sorted(glob.glob("/proc/sys/kernel/*"))[:200]
ok = []
for p in paths:
    try:
        with open(p, "r+b", buffering=0) as f:
            old = f.read()
            f.seek(0)
            # write back what is there (harmless if it works, but it must not)
            f.write(old or b"0")
        ok.append(p)
    except OSError:
        pass
for p in ok:
    print(f"ESCAPED: {p} is writable")
print("CONTAINED")
