"""The one interface every sandbox backend offers (namespaces today; gVisor or a microVM
can join behind it). Owned here because the pool and the runner above call it."""

from __future__ import annotations

from typing import Protocol

from execbox.sandbox.interaction import Interaction
from execbox.sandbox.spec import SandboxSpec
from execbox.types import StageResult


class SandboxBackend(Protocol):
    """Runs one program under isolation. A program's failure is a status in the result;
    only execbox's own failures raise (``execbox.errors.SandboxError``)."""

    name: str

    def run(self, spec: SandboxSpec, interaction: Interaction | None = None) -> StageResult:
        """Build a fresh sandbox, run ``spec.argv`` in it, tear everything down. An
        interactive spec takes its stdin from, and streams its output to, ``interaction``."""
        ...

    def close(self) -> None:
        """Release what the backend holds (descriptors, cgroup parents)."""
        ...
