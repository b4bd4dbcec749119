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
for fd in (0, 1, 2):
    target = os.readlink(f"/proc/self/fd/{fd}")
    if not target.startswith("pipe:"):
        print(f"ESCAPED: fd {fd} is {target}, not a pipe")
print("CONTAINED")
