# the right numbers in the wrong format
n = int(input())
print(f"a=0 b={n}")
