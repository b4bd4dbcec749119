"""8 processes of 16 MiB each: under 64 MB alone, 128 MiB together. The cgroup counts
the whole sandbox, not each process."""
import os
import time

for _ in range(8):
    if os.fork() == 0:
        block = bytearray(16 << 20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(1)  # all hold their block at once
        os._exit(0)
held = sum(os.wait()[1] == 0 for _ in range(8))
if held == 8:
    print("ESCAPED: 128 MiB held at once under a 64 MB limit")
