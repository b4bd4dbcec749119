"""Walk the whole tree bottom-up and try to delete every entry; count what went."""
import os

writable = ("/box", "/tmp", "/dev/shm", "/proc")  # the sandbox's own tmpfs; /proc never yields
deleted = []
for top, dirs, files in os.walk("/", topdown=False, onerror=lambda e: None):
    if top.startswith("/proc"):
        continue
    for name in files + dirs:
        path = os.path.join(top, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)
            else:
                os.unlink(path)
        except OSError:
            continue
        if not path.startswith(writable):
            deleted.append(path)
for p in deleted[:20]:
    print(f"ESCAPED: deleted {p}")
for p in ("/usr/bin/python3", "/etc/passwd", "/usr/lib"):
    if not os.path.exists(p):
        print(f"ESCAPED: {p} is gone")
print("CONTAINED")
