"""Verdicts: what a judge says of one test, from the run's status (and the checker's word).

Pure functions, no sandbox: a stage that ended ``ok`` is for the checker to decide; any
other ending decides the verdict alone (DESIGN.md, "Native API (v1)").
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from execbox.types import StageResult, Status


class Verdict(enum.StrEnum):
    AC = "AC"  # accepted
    WA = "WA"  # wrong answer (a testlib "presentation error" too, with its feedback)
    TLE = "TLE"  # CPU or wall time limit
    MLE = "MLE"  # memory limit
    OLE = "OLE"  # output (or file size) limit
    RE = "RE"  # non-zero exit, a signal, a blocked syscall
    CE = "CE"  # the solution did not compile
    IE = "IE"  # execbox (or the problem's checker) failed, not the solution


_BY_STATUS: dict[Status, Verdict] = {
    Status.TIME_LIMIT: Verdict.TLE,
    Status.MEMORY_LIMIT: Verdict.MLE,
    Status.OUTPUT_LIMIT: Verdict.OLE,
    Status.RUNTIME_ERROR: Verdict.RE,
    Status.SIGNALED: Verdict.RE,
    Status.BLOCKED_SYSCALL: Verdict.RE,
    Status.COMPILE_ERROR: Verdict.CE,
    Status.INTERNAL_ERROR: Verdict.IE,
}

# A JVM runs with its heap sized from the memory limit (-XX:MaxRAM={memory_mb}m): running
# out of it is the memory limit, reported by the JVM before the cgroup would fire.
_HEAP_EXHAUSTED = b"java.lang.OutOfMemoryError"


def of_status(status: Status) -> Verdict | None:
    """The verdict a stage status decides; None for ``ok`` (the checker decides)."""
    if status is Status.OK:
        return None
    return _BY_STATUS[status]


def of_run(stage: StageResult) -> Verdict | None:
    """The verdict of a finished run, None when it ended ``ok`` (ask the checker)."""
    if stage.status is Status.RUNTIME_ERROR and _HEAP_EXHAUSTED in stage.stderr:
        return Verdict.MLE
    return of_status(stage.status)


def of_compile(status: Status) -> Verdict:
    """A program that did not compile: CE, or IE when compiling failed for execbox."""
    return Verdict.IE if status is Status.INTERNAL_ERROR else Verdict.CE


def overall(verdicts: Iterable[Verdict | None]) -> Verdict:
    """The first non-AC verdict in test order, or AC; None (a skipped test) is passed over."""
    for verdict in verdicts:
        if verdict is not None and verdict is not Verdict.AC:
            return verdict
    return Verdict.AC
