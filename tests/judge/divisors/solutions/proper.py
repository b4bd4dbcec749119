# the proper divisors only: n itself is missing
n = int(input())
for d in range(1, n):
    if n % d == 0:
        print(d)
