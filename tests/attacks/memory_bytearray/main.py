# One huge zero-filled allocation (1 GB), far above the memory limit.
buf = bytearray(10**9)
print("ESCAPED: allocated", len(buf), "bytes under a 64 MB limit")
