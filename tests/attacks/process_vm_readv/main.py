import ctypes

libc = ctypes.CDLL(None)
buf = ctypes.create_string_buffer(64)
iov = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 64)
remote = (ctypes.c_void_p * 2)(0x400000, 64)
libc.syscall(310, 1, iov, 1, remote, 1, 0)  # process_vm_readv(pid 1, ...)
print("ESCAPED: process_vm_readv returned")
