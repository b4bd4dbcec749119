# keeps 512 MiB alive, over the problem's 64 MB
a, b = map(int, input().split())
hoard = [bytearray(1 << 20) for _ in range(512)]
print(a + b + len(hoard) - 512)
