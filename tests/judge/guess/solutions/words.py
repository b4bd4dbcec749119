print("fifty", flush=True)
input()
