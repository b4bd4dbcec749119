"""Setuid-root binaries (su, passwd, mount, ...) under no_new_privs: no privilege gained.

Each is started with stdin held open, so those that wait for a password stay alive long
enough to look at their ids; one that became root would also hide from us (hidepid)."""
import os
import subprocess
import time

found = []
for top in ("/usr/bin", "/usr/sbin", "/usr/lib"):
    for root, _, files in os.walk(top):
        for f in files:
            p = os.path.join(root, f)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if st.st_mode & 0o4000 and os.access(p, os.X_OK):
                found.append(p)
print("setuid binaries:", found)
if not found:
    print("no setuid binary to try")
args = {"/usr/bin/su": ["-c", "id -u"], "/usr/bin/sudo": ["-n", "id", "-u"],
        "/usr/bin/mount": ["-t", "tmpfs", "none", "/box"], "/usr/bin/passwd": ["-S"]}
for path in found:
    proc = subprocess.Popen([path, *args.get(path, [])], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(0.05)
    try:
        status = open(f"/proc/{proc.pid}/status").read()
    except OSError:
        status = None
    out, _ = proc.communicate(b"", timeout=5)
    if status is not None:
        uids = next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1:]
        if "0" in uids:
            print(f"ESCAPED: {path} ran with uids {uids}")
    elif proc.returncode is None:
        print(f"ESCAPED: {path} hides from us (became another user?)")
    if out.strip() == b"0":
        print(f"ESCAPED: {path} printed uid 0")
    print(f"{path}: exit {proc.returncode}")
if os.getuid() == 0 or os.geteuid() == 0:
    print("ESCAPED: we are root")
print("CONTAINED")
