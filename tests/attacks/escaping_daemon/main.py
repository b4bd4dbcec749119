"""The classic double fork + setsid daemon, then exit 0 at once."""
import os

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.closerange(0, 3)
        os.execv("/bin/sleep", ["sleep", "1000"])
    os._exit(0)
os.wait()
print("daemon started")
