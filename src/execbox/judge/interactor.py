"""Interactive problems: an interactor program talks to the solution, both sandboxed.

Per test, two fresh sandboxes run at once: the solution, and the problem's interactor
(compiled once per request like any program) with the testlib argv ``interactor
input.txt output.txt answer.txt`` — the test's input and expected answer as files, and an
output file of its own. The host relays the solution's stdout to the interactor's stdin
and the interactor's stdout to the solution's stdin; when one ends, the other's stdin
ends. The interactor's exit code is the testlib verdict (0 AC, 1 WA, 2 PE → WA, 3 or any
other ending IE), its stderr the feedback.

The test's verdict: a solution over a limit (TLE, MLE, OLE) gets that verdict; a solution
that failed (RE) before the interactor finished gets RE; otherwise the interactor's
verdict if it is not AC; otherwise the solution's run decides (RE if it then failed, else
AC).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from execbox.errors import ConfigError, ExecboxError
from execbox.judge import verdicts
from execbox.judge.checkers import CheckResult
from execbox.judge.program_checker import ANSWER, INPUT, from_testlib
from execbox.judge.verdicts import Verdict
from execbox.runner.runner import Prepared
from execbox.sandbox.interaction import Interaction
from execbox.sandbox.spec import SandboxFile
from execbox.types import StageResult, Status

_STDERR_KEPT = 64 * 1024  # of the solution's stderr (its stdout is the interactor's input)
_LIMITS = (Verdict.TLE, Verdict.MLE, Verdict.OLE)


class InteractiveRunner(Protocol):
    def run_interactive(self, prepared: Prepared, interaction: Interaction,
                        pty: tuple[int, int] | None = None,
                        files: tuple[SandboxFile, ...] = (),
                        wall_given: bool = True) -> StageResult: ...


@dataclass(frozen=True, slots=True)
class Interactor:
    runner: InteractiveRunner
    prepared: Prepared
    feedback_chars: int = 4096

    def run(self, solution: Prepared, input_: bytes,
            expected: bytes) -> tuple[StageResult, CheckResult]:
        """One test: (the solution's run, the test's verdict and feedback)."""
        pair = _Pair()
        solution_side = Interaction(pair.from_solution)
        interactor_side = Interaction(pair.from_interactor)
        pair.connect(solution_side, interactor_side)
        files = (SandboxFile(INPUT, input_), SandboxFile(ANSWER, expected))
        ended: dict[str, tuple[float, StageResult | ExecboxError]] = {}

        def run(name: str, prepared: Prepared, own: Interaction, other: Interaction,
                extra: tuple[SandboxFile, ...]) -> None:
            try:
                result: StageResult | ExecboxError = self.runner.run_interactive(
                    prepared, own, files=extra)
            except ExecboxError as exc:
                result = exc
            ended[name] = (time.monotonic(), result)
            other.close_stdin()  # its peer is gone: it reads EOF
            if isinstance(result, ExecboxError):
                other.kill()

        threads = [
            threading.Thread(target=run, args=("solution", solution, solution_side,
                                               interactor_side, ()), daemon=True),
            threading.Thread(target=run, args=("interactor", self.prepared, interactor_side,
                                               solution_side, files), daemon=True),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        solution_side.close()
        interactor_side.close()
        solution_at, solution_run = ended["solution"]
        interactor_at, interactor_run = ended["interactor"]
        if isinstance(solution_run, ExecboxError):
            stage = StageResult(Status.INTERNAL_ERROR, message=str(solution_run))
            return stage, CheckResult(Verdict.IE, str(solution_run))
        solution_run.stderr = bytes(pair.solution_stderr)
        if isinstance(interactor_run, ExecboxError):
            return solution_run, CheckResult(Verdict.IE, f"the interactor could not run: "
                                                         f"{interactor_run}")
        interactor_run.stderr = bytes(pair.interactor_stderr)
        said = from_testlib(interactor_run, self.feedback_chars)
        own = verdicts.of_run(solution_run)
        if own in _LIMITS or (own is not None and solution_at < interactor_at):
            return solution_run, CheckResult(own, _why(solution_run))
        if said.verdict is not Verdict.AC:
            return solution_run, said
        if own is not None:
            return solution_run, CheckResult(own, _why(solution_run))
        return solution_run, said


class _Pair:
    """The relay: each side's stdout is the other's stdin (called on supervisor threads)."""

    def __init__(self) -> None:
        self.solution: Interaction | None = None
        self.interactor: Interaction | None = None
        self.solution_stderr = bytearray()
        self.interactor_stderr = bytearray()

    def connect(self, solution: Interaction, interactor: Interaction) -> None:
        self.solution = solution
        self.interactor = interactor

    def from_solution(self, stream: str, data: bytes) -> None:
        if stream == "stdout":
            self._pass(data, self.interactor)
        else:
            _keep(self.solution_stderr, data)

    def from_interactor(self, stream: str, data: bytes) -> None:
        if stream == "stdout":
            self._pass(data, self.solution)
        else:
            _keep(self.interactor_stderr, data)

    def _pass(self, data: bytes, to: Interaction | None) -> None:
        assert to is not None and self.solution is not None and self.interactor is not None
        try:
            to.write(data)
        except ConfigError:  # one side floods, the other does not read: end both
            self.solution.kill()
            self.interactor.kill()


def _keep(buffer: bytearray, data: bytes) -> None:
    buffer += data[:max(_STDERR_KEPT - len(buffer), 0)]


def _why(stage: StageResult) -> str:
    return f"the solution ended with {stage.summary()}"
