# 1 GiB to stdout in 1 MiB writes.
import os

chunk = b"A" * (1 << 20)
for _ in range(1024):
    os.write(1, chunk)
