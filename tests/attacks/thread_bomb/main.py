import threading
import time

n = 0
try:
    while n < 100000:
        threading.Thread(target=time.sleep, args=(1000,), daemon=True).start()
        n += 1
except RuntimeError as e:
    print(f"{n} threads, then {e}")
if n >= 32:
    print(f"ESCAPED: {n} threads under a limit of 32 processes")
print("CONTAINED")
