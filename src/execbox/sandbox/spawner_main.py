"""Entry point of the spawner process: ``python -I -m execbox.sandbox.spawner_main FD``."""

from __future__ import annotations

import socket
import sys

from execbox.sandbox.spawner import serve


def main() -> None:
    serve(socket.socket(fileno=int(sys.argv[1])))


if __name__ == "__main__":
    main()
