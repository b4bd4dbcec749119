"""No capability in any set, no_new_privs, seccomp filter on, a non-root uid and gid."""
import os

status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines()
              if ":" in line)
for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
    if int(status[key].strip(), 16) != 0:
        print(f"ESCAPED: {key} = {status[key].strip()}")
if status["NoNewPrivs"].strip() != "1":
    print("ESCAPED: no_new_privs is not set")
if status["Seccomp"].strip() != "2":
    print(f"ESCAPED: seccomp mode {status['Seccomp'].strip()}, not 2 (filter)")
low, high = int(os.environ["SANDBOX_UID_LOW"]), int(os.environ["SANDBOX_UID_HIGH"])
for key in ("Uid", "Gid"):
    ids = [int(x) for x in status[key].split()]
    if any(i == 0 or not low <= i < high for i in ids):
        print(f"ESCAPED: {key} {ids}")
if status["Groups"].split() not in ([], [str(os.getgid())]):
    print(f"ESCAPED: supplementary groups {status['Groups'].strip()}")
try:
    os.setuid(0)
    print("ESCAPED: setuid(0) worked")
except OSError:
    pass
try:
    os.setgroups([0])
    print("ESCAPED: setgroups([0]) worked")
except OSError:
    pass
print("CONTAINED")
