"""Rename the host: sethostname / setdomainname / /proc/sys/kernel/hostname."""
import ctypes
import os
import socket

libc = ctypes.CDLL(None, use_errno=True)
before = socket.gethostname()
if before == os.environ["HOST_HOSTNAME"]:
    print("ESCAPED: the sandbox shares the host's uts namespace")
for fn, arg in ((libc.sethostname, b"pwned"), (libc.setdomainname, b"pwned")):
    if fn(arg, len(arg)) == 0:
        print(f"ESCAPED: {fn.__name__} worked")
    elif ctypes.get_errno() != 1:
        print(f"unexpected errno {ctypes.get_errno()}")
try:
    with open("/proc/sys/kernel/hostname", "w") as f:
        f.write("pwned")
    print("ESCAPED: wrote /proc/sys/kernel/hostname")
except OSError:
    pass
if socket.gethostname() != before:
    print("ESCAPED: hostname changed")
print("CONTAINED")
