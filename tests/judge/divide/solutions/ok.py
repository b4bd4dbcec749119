# a different rounding than the expected output: within the tolerance
a, b = map(int, input().split())
print("quotient", a / b)
