"""Only the sandbox's own processes are visible, with small pids, all with our uid."""
import os

me = os.getpid()
if me > 10:
    print(f"ESCAPED: pid {me}: not in a fresh pid namespace")
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
if len(pids) > 3:
    print(f"ESCAPED: sees {len(pids)} processes: {pids[:20]}")
host_pid = int(os.environ["HOST_PID"])
canary = int(os.environ["CANARY_PID"])
for pid in (host_pid, canary):
    if pid in pids and pid != me:
        print(f"ESCAPED: host pid {pid} visible")
for pid in pids:
    try:
        status = open(f"/proc/{pid}/status").read()
    except OSError:
        continue
    uid = int(next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1])
    if uid != os.getuid():
        print(f"ESCAPED: pid {pid} runs as uid {uid}")
# the parent (the sandbox's init, pid 1) is hidden and not ours to inspect
if os.getppid() != 1:
    print(f"ESCAPED: parent pid is {os.getppid()}, not the sandbox's init")
print("pids", pids)
print("CONTAINED")
