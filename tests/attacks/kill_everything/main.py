import os
import signal

try:
    os.kill(-1, signal.SIGKILL)
except OSError as e:
    print("kill(-1):", e)
try:
    os.kill(1, signal.SIGKILL)  # the sandbox's init: ignored (no handler, same namespace)
except OSError as e:
    print("kill(1):", e)
for var in ("HOST_PID", "CANARY_PID"):
    pid = int(os.environ[var])
    if pid == os.getpid():
        continue
    try:
        os.kill(pid, signal.SIGKILL)
        print(f"ESCAPED: sent SIGKILL to {var} {pid}")
    except OSError:
        pass
print("CONTAINED")
