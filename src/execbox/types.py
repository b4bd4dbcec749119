"""Results, limits and statuses shared by every layer.

The user program's outcome is data (a :class:`Status` in a :class:`StageResult`), never an
exception; execbox's own failures raise (see :mod:`execbox.errors`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields, replace
from typing import Any


class Status(enum.StrEnum):
    """How one stage (compile or run) ended. Exactly one per stage."""

    OK = "ok"
    RUNTIME_ERROR = "runtime_error"  # exited with a non-zero code
    SIGNALED = "signaled"  # killed by a signal it raised or got (SIGSEGV, SIGABRT...)
    TIME_LIMIT = "time_limit"  # CPU or wall time; StageResult.limit says which
    MEMORY_LIMIT = "memory_limit"  # the cgroup's OOM killer fired
    OUTPUT_LIMIT = "output_limit"  # stdout/stderr over output_bytes, or a file over file_size
    BLOCKED_SYSCALL = "blocked_syscall"  # killed by the seccomp filter
    INTERNAL_ERROR = "internal_error"  # execbox failed, not the program
    COMPILE_ERROR = "compile_error"  # top-level status only: compiling failed, nothing ran


class LimitKind(enum.StrEnum):
    """Which limit a stage ran into (set alongside the status it caused)."""

    CPU_TIME = "cpu_time"
    WALL_TIME = "wall_time"
    MEMORY = "memory"
    PROCESSES = "processes"
    OUTPUT = "output"
    FILE_SIZE = "file_size"


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits of one stage. Every field is always set; see ``merged``."""

    cpu_time_ms: int = 3000
    wall_time_ms: int = 5000
    memory_mb: int = 256
    processes: int = 64
    output_bytes: int = 65536
    file_size_mb: int = 16

    def merged(self, overrides: dict[str, Any] | None) -> Limits:
        """A copy with the given (validated elsewhere) fields replaced."""
        if not overrides:
            return self
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown limit(s): {', '.join(sorted(unknown))}")
        return replace(self, **{k: int(v) for k, v in overrides.items() if v is not None})

    def exceeding(self, caps: Limits) -> list[str]:
        """Names of the fields of self that are above the matching field of ``caps``."""
        return [f.name for f in fields(self) if getattr(self, f.name) > getattr(caps, f.name)]

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class StageResult:
    """What happened to one program run inside a sandbox."""

    status: Status
    exit_code: int | None = None
    signal: str | None = None  # "SIGSEGV"
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    cpu_time_ms: int = 0
    wall_time_ms: int = 0
    memory_kb: int = 0
    limit: LimitKind | None = None  # the limit that decided the status, if any
    limits_hit: list[LimitKind] = field(default_factory=list)  # every limit touched
    message: str | None = None  # for internal_error: what failed
    files: dict[str, bytes] = field(default_factory=dict)  # collected from the work dir

    def summary(self) -> str:
        parts = [self.status.value]
        if self.limit is not None:
            parts.append(f"limit={self.limit.value}")
        if self.exit_code is not None:
            parts.append(f"exit={self.exit_code}")
        if self.signal:
            parts.append(f"signal={self.signal}")
        parts.append(f"cpu={self.cpu_time_ms}ms wall={self.wall_time_ms}ms")
        parts.append(f"mem={self.memory_kb}KiB")
        return " ".join(parts)

    def as_json(self) -> dict[str, Any]:
        """The stage object of the native API (DESIGN.md), output decoded as UTF-8."""
        out: dict[str, Any] = {
            "status": self.status.value,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "stdout": self.stdout.decode("utf-8", "replace"),
            "stderr": self.stderr.decode("utf-8", "replace"),
            "stdout_truncated": self.stdout_truncated,
            "stderr_truncated": self.stderr_truncated,
            "cpu_time_ms": self.cpu_time_ms,
            "wall_time_ms": self.wall_time_ms,
            "memory_kb": self.memory_kb,
            "limit": self.limit.value if self.limit else None,
        }
        if self.message is not None:
            out["message"] = self.message
        return out


EXIT_CODES: dict[Status, int] = {
    Status.OK: 0,
    Status.RUNTIME_ERROR: 1,
    Status.SIGNALED: 2,
    Status.TIME_LIMIT: 3,
    Status.MEMORY_LIMIT: 4,
    Status.OUTPUT_LIMIT: 5,
    Status.BLOCKED_SYSCALL: 6,
    Status.INTERNAL_ERROR: 70,
    Status.COMPILE_ERROR: 7,
}
"""Process exit code of the CLI for each status (64 is a usage error)."""
