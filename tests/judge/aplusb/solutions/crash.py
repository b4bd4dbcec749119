# divides by zero: an exception, exit status 1
a, b = map(int, input().split())
print((a + b) // 0)
