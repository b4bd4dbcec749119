# Python ignores SIGXFSZ, so the write past RLIMIT_FSIZE fails with EFBIG instead.
import errno
import os

written = 0
try:
    with open("big", "wb", buffering=0) as f:
        while written < 4 << 20:
            written += f.write(b"F" * 65536)
    print(f"ESCAPED: wrote {written} bytes past a 1 MiB file size limit")
except OSError as e:
    if e.errno != errno.EFBIG:
        print(f"ESCAPED: {e!r}, not EFBIG")
size = os.path.getsize("big")
print("size", size)
if size > 1 << 20:
    print(f"ESCAPED: the file has {size} bytes")
print("CONTAINED")
