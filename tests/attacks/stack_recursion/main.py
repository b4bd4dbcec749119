# Unbounded Python recursion with the recursion guard lifted.
import sys

sys.setrecursionlimit(10**9)


def f(n):
    return f(n + 1) + 1


f(0)
