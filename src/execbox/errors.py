"""execbox's own failures. A user program's failure is never one of these: it is a Status.

ExecboxError
├── ConfigError            settings or a request that cannot be honoured (bad limits, paths)
└── SandboxError           the sandbox machinery failed
    ├── SandboxUnavailable a required isolation layer cannot be applied on this host
    └── SandboxSetupError  a sandbox could not be built or torn down for one run
"""

from __future__ import annotations


class ExecboxError(Exception):
    """Base of every error execbox raises on purpose."""


class ConfigError(ExecboxError):
    """Settings or a request that execbox cannot honour."""


class SandboxError(ExecboxError):
    """The sandbox machinery failed (not the user's program)."""


class SandboxUnavailable(SandboxError):
    """A required isolation layer cannot be applied on this host. Never skipped silently."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            "the sandbox cannot run on this host; run `execbox doctor` for details:\n" + lines
        )


class SandboxSetupError(SandboxError):
    """Building, running or tearing down one sandbox failed."""
