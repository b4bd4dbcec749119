"""Name resolution of an outside name fails (no resolver reachable, no network)."""
import socket

for name in ("example.com", "pypi.org"):
    try:
        addrs = socket.getaddrinfo(name, 443)
        print(f"ESCAPED: {name} resolved to {addrs[0][4]}")
    except OSError as e:
        print(f"{name}: {e}")
print("CONTAINED")
