"""Reach an outside address. 192.0.2.1 is TEST-NET-1 (RFC 5737): it routes nowhere, and in
a namespace without interfaces connect() must fail at once with ENETUNREACH."""
import errno
import socket
import time

for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_INET, kind)
    s.settimeout(1)
    start = time.monotonic()
    try:
        if kind == socket.SOCK_STREAM:
            s.connect(("192.0.2.1", 80))
            print("ESCAPED: connected to 192.0.2.1")
        else:
            s.sendto(b"x", ("192.0.2.1", 53))
            print("ESCAPED: sent a datagram towards 192.0.2.1")
    except TimeoutError:
        print("ESCAPED: the SYN went out (timeout instead of ENETUNREACH): a route exists")
    except OSError as e:
        print(f"{kind!r}: {e} after {time.monotonic() - start:.3f}s")
        if e.errno != errno.ENETUNREACH:
            print(f"ESCAPED? {e!r}, not ENETUNREACH")
    s.close()
s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s6.settimeout(1)
try:
    s6.connect(("2001:db8::1", 80))  # the IPv6 documentation prefix (RFC 3849)
    print("ESCAPED: connected over IPv6")
except TimeoutError:
    print("ESCAPED: an IPv6 route exists")
except OSError as e:
    print(f"ipv6: {e}")
print("CONTAINED")
