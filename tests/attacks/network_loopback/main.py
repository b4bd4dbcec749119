"""Reach the host's listeners on 127.0.0.1 (TCP and UDP): the fresh netns has no route."""
import errno
import os
import socket

port = int(os.environ["LISTEN_PORT"])
udp_port = int(os.environ["UDP_PORT"])
names = [name for _, name in socket.if_nameindex()]
if names != ["lo"]:
    print(f"ESCAPED: network interfaces {names}")
for host in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect((host, port))
        print(f"ESCAPED: connected to {host}:{port}")
    except OSError as e:
        print(f"{host}: {e}")
        if e.errno not in (errno.ENETUNREACH, errno.ECONNREFUSED, errno.EADDRNOTAVAIL):
            print(f"ESCAPED? unexpected error {e!r}")
    finally:
        s.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    u.sendto(b"hello from the sandbox", ("127.0.0.1", udp_port))
    print("udp sendto did not fail")  # the harness checks that nothing arrived
except OSError as e:
    print(f"udp: {e}")
# bring lo up (needs CAP_NET_ADMIN) and try again: it would still be the sandbox's own lo
import fcntl
import struct

SIOCSIFFLAGS, IFF_UP = 0x8914, 0x1
try:
    fcntl.ioctl(u.fileno(), SIOCSIFFLAGS, struct.pack("16sh", b"lo", IFF_UP) + b"\0" * 22)
    print("ESCAPED: brought lo up without CAP_NET_ADMIN")
except OSError:
    pass
print("CONTAINED")
