"""TIOCSTI pushes characters into a terminal's input (the classic sandbox escape when the
terminal is shared): refused by the filter whatever the descriptor is."""
import errno
import fcntl
import os
import termios

for fd in (0, 1, 2):
    try:
        fcntl.ioctl(fd, termios.TIOCSTI, b"x")
        print(f"ESCAPED: TIOCSTI on fd {fd}")
    except OSError as e:
        print(f"fd {fd}: {e}")
        if e.errno != errno.EPERM:
            print(f"ESCAPED? {e!r}, EPERM expected")
try:
    master, slave = os.openpty()
except OSError as e:
    print("no pty:", e)
else:
    try:
        fcntl.ioctl(slave, termios.TIOCSTI, b"x")
        print("ESCAPED: TIOCSTI on a pty")
    except OSError as e:
        if e.errno != errno.EPERM:
            print(f"ESCAPED? {e!r}")
print("CONTAINED")
