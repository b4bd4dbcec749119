# too many guesses: the interactor says WA
guess = 1
while True:
    print(guess, flush=True)
    if input() == "=":
        break
    guess += 1
