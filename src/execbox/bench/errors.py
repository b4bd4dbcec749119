"""The benchmark's own failure: a level that could not run its program."""

from __future__ import annotations

from execbox.errors import ExecboxError


class BenchError(ExecboxError):
    """A level could not run its program (the message says why)."""
