"""The host's abstract unix socket (per network namespace) and its socket file in /tmp."""
import os
import socket

for label, addr in (("abstract", "\0" + os.environ["ABSTRACT_SOCKET"]),
                    ("path", os.environ["UNIX_SOCKET_PATH"])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(addr)
        print(f"ESCAPED: connected to the host's {label} socket")
    except OSError as e:
        print(f"{label}: {e}")
    s.close()
# the usual privileged sockets of a host
for path in ("/run/docker.sock", "/var/run/docker.sock", "/run/systemd/private",
             "/run/dbus/system_bus_socket", "/run/containerd/containerd.sock",
             "/run/systemd/journal/socket", "/dev/log"):
    if os.path.exists(path):
        print(f"ESCAPED: {path} is visible")
print("CONTAINED")
