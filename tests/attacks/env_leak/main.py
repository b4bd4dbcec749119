"""The host's environment must not reach the sandbox: not ours, not any process's."""
import glob
import os

name = os.environ.get("SECRET_ENV_NAME", "EXECBOX_TEST_SECRET")
if name in os.environ:
    print(f"ESCAPED: {name} is in the environment")
# what execbox sets, plus the bait the harness passes on purpose
allowed = {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME", "PWD",
           "SECRET_PATH", "SECRET_DIR", "TMP_SENTINEL", "LISTEN_PORT", "UDP_PORT",
           "ABSTRACT_SOCKET", "UNIX_SOCKET_PATH", "HOST_PID", "CANARY_PID", "HOST_HOSTNAME",
           "SECRET_ENV_NAME", "SHM_KEY", "SANDBOX_UID_LOW", "SANDBOX_UID_HIGH"}
extra = sorted(set(os.environ) - allowed)
if extra:
    print(f"ESCAPED: inherited variables {extra}")
for path in glob.glob("/proc/[0-9]*/environ") + ["/proc/1/environ"]:
    try:
        data = open(path, "rb").read()
    except OSError:
        continue
    if name.encode() + b"=" in data:
        print(f"ESCAPED: {name} in {path}")
print("CONTAINED")
