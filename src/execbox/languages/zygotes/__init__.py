"""Preloaded interpreters ("zygotes") that warm sandboxes start before a request arrives.

Each is a self-contained program text (it runs inside the sandbox, where execbox itself is
not installed) passed to its interpreter with ``-c``; it speaks the protocol of
``execbox.sandbox.child._start_zygote``: one JSON order on fd 3, then run it.
"""

from __future__ import annotations

from importlib.resources import files


def source(name: str) -> str:
    """The program text of zygote ``name`` (e.g. "python")."""
    return files(__package__).joinpath(f"{name}_zygote.py").read_text()


def target(name: str) -> str:
    """``module:function`` a template spawner preloads to run zygote ``name`` in-process."""
    return f"{__package__}.{name}_zygote:run"
