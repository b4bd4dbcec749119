"""Try to read the host's secrets and other processes' data from inside the sandbox."""
import glob
import os


def escaped(what):
    print(f"ESCAPED: {what}", flush=True)


def try_read(path):
    try:
        with open(path, "rb") as f:
            data = f.read(4096)
    except OSError as e:
        return e
    return data


def try_list(path):
    try:
        return os.listdir(path)
    except OSError as e:
        return e


files = [
    "/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh/ssh_host_rsa_key",
    "/root/.bash_history", "/root/.ssh/id_rsa", "/proc/1/environ", "/proc/1/mem",
    "/proc/1/cmdline", "/proc/1/maps", "/proc/1/root/etc/shadow", "/proc/kcore",
    "/proc/kmsg", "/proc/kallsyms", "/proc/self/../1/environ",
    os.environ["SECRET_PATH"], os.environ["TMP_SENTINEL"],
    "/run/execbox/slots/0.lock", "/var/run/docker.sock",
]
for path in files:
    data = try_read(path)
    if isinstance(data, bytes):
        if path == "/proc/kallsyms" and all(
                line.startswith(b"0000000000000000") for line in data.splitlines()[:50]):
            continue  # addresses hidden from non-root: harmless
        escaped(f"read {path}: {data[:80]!r}")

dirs = ["/root", "/work", "/work/main", "/run", "/run/execbox", "/run/execbox-attacks",
        "/home", "/var", "/tmp/pytest-of-root",
        os.environ["SECRET_DIR"], "/sys", "/sys/fs/cgroup", "/proc/1/root", "/proc/1/fd",
        "/proc/1/cwd", "/boot", "/mnt", "/srv", "/opt", "/usr/local"]
for path in dirs:
    listing = try_list(path)
    if isinstance(listing, list) and listing:
        escaped(f"listed {path}: {listing[:10]}")

# /etc holds only what the sandbox put there
allowed_etc = {"passwd", "group", "hosts", "hostname", "ld.so.cache", "alternatives"}
extra = set(os.listdir("/etc")) - allowed_etc
if extra:
    escaped(f"/etc has host files: {sorted(extra)}")

# every other process's /proc entries
me = os.getpid()
for path in glob.glob("/proc/[0-9]*"):
    pid = int(path.rsplit("/", 1)[1])
    if pid == me:
        continue
    for name in ("environ", "mem", "cmdline", "maps", "fd"):
        target = f"{path}/{name}"
        got = try_list(target) if name == "fd" else try_read(target)
        if not isinstance(got, Exception) and got:
            # a child of ours would be fine, but this probe starts none
            escaped(f"read {target} of pid {pid}")
print("CONTAINED")
