import ctypes
import errno

libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
r = libc.syscall(425, 8, params)
if r >= 0:
    print(f"ESCAPED: io_uring_setup gave fd {r}")
elif ctypes.get_errno() != errno.ENOSYS:
    print(f"io_uring_setup: errno {ctypes.get_errno()} (ENOSYS expected)")
print("CONTAINED")
