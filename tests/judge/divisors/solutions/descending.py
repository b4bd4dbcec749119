# pairs (d, n // d) from the square root down: an order of its own, trailing spaces too
n = int(input())
small, large = [], []
d = 1
while d * d <= n:
    if n % d == 0:
        small.append(d)
        if d != n // d:
            large.append(n // d)
    d += 1
for d in large + small[::-1]:
    print(d, end=" \n")
