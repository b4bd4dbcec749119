"""Only stdin, stdout and stderr may be open: nothing of the host's (sockets, files)."""
import os
import stat

for fd in range(3, 4096):
    try:
        st = os.fstat(fd)
    except OSError:
        continue
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        target = "?"
    print(f"ESCAPED: inherited fd {fd} -> {target} mode {stat.filemode(st.st_mode)}")
# stdin is an anonymous file the sandbox's init made from the request; stdout and stderr
# are pipes to the supervisor. Anything else would be something of the host's.
EXPECTED = {0: ("/memfd:stdin",), 1: ("pipe:",), 2: ("pipe:",)}
for fd, prefixes in EXPECTED.items():
    target = os.readlink(f"/proc/self/fd/{fd}")
    if not target.startswith(prefixes):
        print(f"ESCAPED: fd {fd} is {target}")
print("CONTAINED")
