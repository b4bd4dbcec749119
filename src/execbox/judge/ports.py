"""What the judge needs of the layer below: a ``Runner``'s compile-once, run-many verbs."""

from __future__ import annotations

from typing import Protocol

from execbox.runner.runner import Prepared, RunRequest
from execbox.sandbox.interaction import Interaction
from execbox.sandbox.spec import SandboxFile
from execbox.types import StageResult


class ProgramRunner(Protocol):
    def check(self, request: RunRequest) -> None:
        """Raise ConfigError for a request that could not run (language, limits)."""

    def prepare(self, request: RunRequest) -> Prepared:
        """Compile once (sandboxed); the result runs any number of times."""

    def run_prepared(self, prepared: Prepared, stdin: bytes = b"",
                     files: tuple[SandboxFile, ...] = ()) -> StageResult:
        """One run in a fresh sandbox, ``files`` added to its work dir."""

    def run_interactive(self, prepared: Prepared, interaction: Interaction,
                        pty: tuple[int, int] | None = None,
                        files: tuple[SandboxFile, ...] = (),
                        wall_given: bool = True) -> StageResult:
        """One run whose stdin and output go through ``interaction`` as it runs."""
