"""The host's SysV shared memory segment (world-readable, known key): the ipc ns hides it."""
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
key = int(os.environ["SHM_KEY"])
shm_id = libc.shmget(key, 0, 0)
if shm_id >= 0:
    addr = libc.shmat(shm_id, None, 0o10000)  # SHM_RDONLY
    data = ctypes.string_at(addr, 64) if addr not in (None, 2**64 - 1) else b""
    print(f"ESCAPED: attached the host's segment {shm_id}: {data[:8]!r}...")
for shm_id in range(0, 64):  # ids of any segment, guessed
    buf = ctypes.create_string_buffer(256)
    if libc.shmctl(shm_id, 2, buf) == 0:  # IPC_STAT
        print(f"ESCAPED: shmctl(IPC_STAT) on segment {shm_id}")
if os.path.exists("/proc/sysvipc/shm"):
    lines = open("/proc/sysvipc/shm").read().splitlines()[1:]
    if lines:
        print(f"ESCAPED: /proc/sysvipc/shm lists {len(lines)} segments")
print("CONTAINED")
