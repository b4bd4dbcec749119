import ctypes

libc = ctypes.CDLL(None)
libc.ptrace(16, 1, None, None)  # PTRACE_ATTACH to the sandbox's init
print("ESCAPED: ptrace returned")
