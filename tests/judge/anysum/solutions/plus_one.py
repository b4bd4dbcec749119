# one too many
n = int(input())
print(n, 1)
