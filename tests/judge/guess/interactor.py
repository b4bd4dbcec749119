# The judge's side of "guess the number": the number is the test's input (argv[1], testlib
# style); each line from the solution is a guess, answered "<" (the number is smaller),
# ">" (larger) or "=". Exit codes are testlib's: 0 AC, 1 WA, 2 PE; stderr says why.
import sys

with open(sys.argv[1]) as given:
    secret = int(given.read())
for _ in range(25):
    line = sys.stdin.readline()
    if not line:
        print("the solution stopped guessing", file=sys.stderr)
        sys.exit(1)
    try:
        guess = int(line)
    except ValueError:
        print(f"not a number: {line.strip()!r}", file=sys.stderr)
        sys.exit(2)
    if guess == secret:
        print("=", flush=True)
        sys.exit(0)
    print("<" if secret < guess else ">", flush=True)
print("more than 25 guesses", file=sys.stderr)
sys.exit(1)
