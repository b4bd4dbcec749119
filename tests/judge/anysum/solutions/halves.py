# another right answer than the expected output's
n = int(input())
print(n // 2, n - n // 2)
