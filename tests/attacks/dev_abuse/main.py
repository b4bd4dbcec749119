"""/dev holds null, zero, full, random, urandom, shm and the fd links; nothing else works."""
import errno
import os
import stat

allowed = {"null", "zero", "full", "random", "urandom", "shm", "fd", "stdin", "stdout",
           "stderr", "pts", "ptmx", "tty"}
extra = sorted(set(os.listdir("/dev")) - allowed)
if extra:
    print(f"ESCAPED: unexpected devices {extra}")
for dev in ("/dev/mem", "/dev/kmem", "/dev/port", "/dev/kmsg", "/dev/sda", "/dev/vda",
            "/dev/nvme0n1", "/dev/kvm", "/dev/fuse", "/dev/net/tun", "/dev/console",
            "/dev/tty0", "/dev/loop0", "/dev/loop-control", "/dev/mapper/control",
            "/dev/cpu/0/msr", "/dev/dri/card0", "/dev/vhost-net", "/dev/btrfs-control"):
    if os.path.exists(dev):
        print(f"ESCAPED: {dev} exists")
try:
    with open("/dev/full", "wb", buffering=0) as f:
        f.write(b"x")
    print("ESCAPED: /dev/full accepted a write")
except OSError as e:
    if e.errno != errno.ENOSPC:
        print(f"ESCAPED: /dev/full gave {e!r}")
try:
    os.open("/dev/tty", os.O_RDWR)
    print("ESCAPED: opened a controlling terminal")
except OSError:
    pass
for name, major, minor in (("mem", 1, 1), ("sda", 8, 0), ("vda", 254, 0), ("kmsg", 1, 11)):
    for where in ("/box", "/tmp", "/dev/shm"):
        try:
            os.mknod(f"{where}/{name}", 0o666 | stat.S_IFCHR, os.makedev(major, minor))
            print(f"ESCAPED: mknod {where}/{name}")
        except OSError:
            pass
for dev in ("/dev/null", "/dev/zero"):
    try:
        os.chmod(dev, 0o777)
        print(f"ESCAPED: chmod {dev}")
    except OSError:
        pass
with open("/dev/null", "wb") as f:
    f.write(b"fine")
if len(open("/dev/urandom", "rb").read(16)) != 16:
    print("urandom broken")
print("CONTAINED")
