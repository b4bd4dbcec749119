"""Entry point of a spawner process: ``python -c BOOT FD SRC [MODULE...]``.

BOOT puts SRC (execbox's source directory) first on sys.path, for a template spawner
running the sandbox's interpreter; each MODULE is imported before any fork, and that
path entry removed again so that programs forked later see the interpreter's own path.
A template also takes execbox's modules out of ``sys.modules`` (keeping them in its own
registry): a program forked from it cannot ``import execbox``, as in a plain interpreter,
and does not pay for hiding them at each run.
"""

from __future__ import annotations

import importlib
import socket
import sys

from execbox.sandbox.spawner import serve


def main() -> None:
    fd, src, *preload = sys.argv[1:]
    for module in preload:
        importlib.import_module(module)
    if sys.path and sys.path[0] == src:
        del sys.path[0]
    modules = None
    if preload:
        modules = {name: module for name, module in sys.modules.items()
                   if name == "execbox" or name.startswith("execbox.")}
        for name in modules:
            del sys.modules[name]
    serve(socket.socket(fileno=int(fd)), modules)


if __name__ == "__main__":
    main()
