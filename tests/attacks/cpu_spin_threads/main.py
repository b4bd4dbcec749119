# Four busy processes (threads would share the GIL): CPU is counted for the whole group.
import os

for _ in range(3):
    if os.fork() == 0:
        break
while True:
    pass
