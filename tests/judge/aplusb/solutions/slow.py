# the right answer, after far too long
a, b = map(int, input().split())
n = 0
while n >= 0:
    n += 1
print(a + b)
