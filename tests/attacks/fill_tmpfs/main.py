"""Fill /tmp, /dev/shm and /box: each is a size- and inode-limited tmpfs (64 MiB, 4096)."""
import errno
import os

LIMIT_MB = 64
chunk = b"x" * (1 << 20)
for d in ("/tmp", "/dev/shm", "/box"):
    path = f"{d}/fill"
    written = 0
    try:
        with open(path, "wb", buffering=0) as f:
            while written < 4 * LIMIT_MB << 20:
                written += f.write(chunk)
        print(f"ESCAPED: wrote {written >> 20} MiB to {d}")
    except OSError as e:
        if e.errno != errno.ENOSPC:
            print(f"ESCAPED: {d} failed with {e!r}, not ENOSPC")
    if written > (LIMIT_MB + 1) << 20:
        print(f"ESCAPED: {d} took {written >> 20} MiB")
    os.unlink(path)
    print(f"{d}: ENOSPC after {written >> 20} MiB")
    # inodes
    n = 0
    try:
        while n < 10000:
            open(f"{d}/i{n}", "wb").close()
            n += 1
        print(f"ESCAPED: created {n} files in {d}")
    except OSError as e:
        if e.errno != errno.ENOSPC:
            print(f"ESCAPED: {d} failed with {e!r}, not ENOSPC")
    for i in range(n):
        os.unlink(f"{d}/i{i}")
    print(f"{d}: ENOSPC after {n} files")
print("CONTAINED")
