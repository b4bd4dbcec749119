"""Entry point of execbox's spawner process: ``python -I -c BOOT FD SRC``.

BOOT puts SRC (execbox's source directory) first on sys.path. (A template spawner has its
own entry point: ``template.main``.)
"""

from __future__ import annotations

import socket
import sys

from execbox.sandbox.spawner import serve


def main() -> None:
    fd, _src = sys.argv[1:]
    serve(socket.socket(fileno=int(fd)))


if __name__ == "__main__":
    main()
