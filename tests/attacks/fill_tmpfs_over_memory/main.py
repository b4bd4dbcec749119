"""Write to /tmp more than the memory limit: tmpfs pages are charged to the sandbox."""
chunk = b"x" * (1 << 20)
written = 0
with open("/tmp/fill", "wb", buffering=0) as f:
    while True:
        written += f.write(chunk)
        if written > 40 << 20:
            print(f"ESCAPED: {written >> 20} MiB of tmpfs under a 32 MB memory limit")
