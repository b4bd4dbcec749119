"""The judge: one program, many tests. Compile once, run each test in a fresh sandbox,
check its output, give each test a verdict and the request the first non-AC one.

Above the runner (it calls ``Runner.prepare`` once and ``Runner.run_prepared`` per test),
below the API. ``Judge.judge`` runs the tests on a thread pool of ``workers``; the API
runs the same steps (``prepare``, ``run_test`` per test, ``finish``) as scheduler jobs
(``execbox.judge.aio``). With ``stop_on_failure`` a test not yet started when one fails
is not run: its verdict and status are null.

Judged runs are reproducible across hosts: their environment always has LANG=C.UTF-8,
LC_ALL=C.UTF-8 and TZ=UTC (over the request's ``env``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol

from execbox.errors import ConfigError, ExecboxError
from execbox.judge import checkers, verdicts
from execbox.judge.checkers import CheckResult
from execbox.judge.interactor import Interactor
from execbox.judge.ports import ProgramRunner
from execbox.judge.program_checker import ARGV, ProgramChecker
from execbox.judge.verdicts import Verdict
from execbox.runner.runner import Prepared, RunRequest
from execbox.types import StageResult, Status

MIB = 1024 * 1024
FIXED_ENV = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC"}
SKIPPED = "not run: an earlier test failed (stop_on_failure)"


@dataclass(frozen=True, slots=True)
class JudgeSettings:
    max_tests: int = 256  # per request
    max_expected_bytes: int = 4 * MIB  # per test
    # a checker program's run limits, over its language's, under its request's (the rest
    # are the language's: a JVM keeps the memory and threads it needs)
    checker_limits: Mapping[str, int] = field(default_factory=lambda: {
        "cpu_time_ms": 5000, "wall_time_ms": 10_000})
    feedback_chars: int = 4096  # of a checker program's message

    def __post_init__(self) -> None:
        if min(self.max_tests, self.max_expected_bytes, self.feedback_chars) < 1:
            raise ConfigError("judge settings: max_tests, max_expected_bytes and "
                              "feedback_chars must be positive")


@dataclass(frozen=True, slots=True)
class TestCase:
    __test__: ClassVar[bool] = False  # not a pytest class, whatever its name

    name: str
    stdin: bytes = b""
    expected: bytes | None = None  # None: any output is right (the run's status decides)


@dataclass(frozen=True, slots=True)
class BuiltinChecker:
    name: str = checkers.DEFAULT
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CheckerProgram:
    """A testlib-style checker: any language; its argv gets input/output/answer files."""

    program: RunRequest


CheckerSpec = BuiltinChecker | CheckerProgram


@dataclass(frozen=True, slots=True)
class JudgeRequest:
    run: RunRequest  # the solution (its stdin is unused: each test has its own)
    tests: tuple[TestCase, ...]
    checker: CheckerSpec = field(default_factory=BuiltinChecker)
    stop_on_failure: bool = False
    # an interactive problem's interactor: it talks to the solution and its exit code is
    # the verdict (``execbox.judge.interactor``); no checker then
    interactor: RunRequest | None = None


class Checker(Protocol):
    """Judges one test's output (bytes, as the program wrote them)."""

    def __call__(self, test: TestCase, output: bytes) -> CheckResult: ...


@dataclass(slots=True)
class TestResult:
    __test__: ClassVar[bool] = False

    name: str
    verdict: Verdict | None  # None: not run (stop_on_failure)
    run: StageResult | None = None
    feedback: str | None = None

    @property
    def failed(self) -> bool:
        return self.verdict is not None and self.verdict is not Verdict.AC

    def as_json(self) -> dict[str, Any]:
        stage = self.run.as_json() if self.run else dict(_NO_STAGE)
        return {"name": self.name, "verdict": self.verdict.value if self.verdict else None,
                "feedback": self.feedback, **stage}


_NO_STAGE = {key: None for key in StageResult(Status.OK).as_json()}


@dataclass(slots=True)
class JudgeResult:
    language: str
    version: str
    status: Status  # compile_error, or the run status of the test that decided the verdict
    verdict: Verdict
    compile: StageResult | None
    tests: list[TestResult]
    compile_cached: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"language": self.language, "version": self.version,
                "status": self.status.value,
                "compile": self.compile.as_json() if self.compile else None,
                "run": None, "tests": [t.as_json() for t in self.tests],
                "verdict": self.verdict.value}


@dataclass(slots=True)
class Plan:
    """A request ready for its tests: the solution (and a checker program) compiled."""

    request: JudgeRequest
    solution: Prepared
    checker: Checker | None  # None when ``done``
    done: JudgeResult | None = None  # decided without running a test (CE, a bad checker)
    interactor: Interactor | None = None  # an interactive problem's


def text_checker(check: checkers.Check) -> Checker:
    """A checker of text (``checkers``) as a checker of a test's bytes."""

    def checker(test: TestCase, output: bytes) -> CheckResult:
        assert test.expected is not None
        return check(_text(output), _text(test.expected))

    return checker


def judge_run(stage: StageResult, test: TestCase, checker: Checker) -> CheckResult:
    """One finished run of one test → its verdict: the status decides unless ``ok``."""
    verdict = verdicts.of_run(stage)
    if verdict is not None:
        return CheckResult(verdict, _why(stage, verdict))
    if test.expected is None:
        return checkers.ACCEPTED
    return checker(test, stage.stdout)


class Judge:
    def __init__(self, runner: ProgramRunner, settings: JudgeSettings | None = None) -> None:
        self.runner = runner
        self.settings = settings or JudgeSettings()

    # -- validation (before anything runs: ConfigError → 400) ---------------------------
    def check(self, request: JudgeRequest) -> None:
        s = self.settings
        if not request.tests:
            raise ConfigError("tests must not be empty")
        if len(request.tests) > s.max_tests:
            raise ConfigError(f"{len(request.tests)} tests: at most {s.max_tests} per request")
        names: set[str] = set()
        for test in request.tests:
            if not test.name or test.name in names:
                raise ConfigError(f"test names must be unique and non-empty: {test.name!r}")
            names.add(test.name)
            if test.expected is not None and len(test.expected) > s.max_expected_bytes:
                raise ConfigError(f"test {test.name}: expected_output is over "
                                  f"{s.max_expected_bytes} bytes")
        self.runner.check(self._solution(request))
        if request.interactor is not None:
            if request.checker != BuiltinChecker():
                raise ConfigError("an interactive problem's interactor is its checker: "
                                  "give one or the other")
            self._check_program(self._checker_program(request.interactor))
        elif isinstance(request.checker, BuiltinChecker):
            checkers.builtin(request.checker.name, request.checker.options)
        else:
            self._check_program(self._checker_program(request.checker.program))

    def _check_program(self, program: RunRequest) -> None:
        """A checker or interactor program could run (its files leave room for ours)."""
        taken = set(ARGV) & {f.name for f in program.files}
        if taken:
            raise ConfigError(f"a checker or interactor program's files may not be named "
                              f"{', '.join(sorted(taken))} (the judge writes those)")
        self.runner.check(program)

    # -- the steps -----------------------------------------------------------------------
    def prepare(self, request: JudgeRequest) -> Plan:
        """Compile the solution, then a checker program, once each."""
        solution = self.runner.prepare(self._solution(request))
        lang = solution.language
        if not solution.ok:
            assert solution.compile is not None
            verdict = verdicts.of_compile(solution.compile.status)
            tests = [TestResult(t.name, verdict) for t in request.tests]
            return Plan(request, solution, None, JudgeResult(
                lang.name, lang.version, solution.status, verdict, solution.compile, tests))
        if request.interactor is None and isinstance(request.checker, BuiltinChecker):
            check = checkers.builtin(request.checker.name, request.checker.options)
            return Plan(request, solution, text_checker(check))
        helper = request.interactor
        if helper is None:
            assert isinstance(request.checker, CheckerProgram)
            helper = request.checker.program
        program = self.runner.prepare(self._checker_program(helper))
        what = "checker" if request.interactor is None else "interactor"
        if not program.ok:
            assert program.compile is not None
            said = (program.compile.stderr or program.compile.stdout).decode("utf-8", "replace")
            feedback = f"the {what} did not compile ({program.compile.summary()}): " + \
                said[:self.settings.feedback_chars]
            tests = [TestResult(t.name, Verdict.IE, None, feedback) for t in request.tests]
            return Plan(request, solution, None, JudgeResult(
                lang.name, lang.version, Status.INTERNAL_ERROR, Verdict.IE, solution.compile,
                tests, solution.cached))
        if request.interactor is not None:
            interactor = Interactor(self.runner, program, self.settings.feedback_chars)
            return Plan(request, solution, text_checker(checkers.builtin(checkers.DEFAULT)),
                        interactor=interactor)
        return Plan(request, solution, self._program_checker(program))

    def run_test(self, plan: Plan, index: int) -> TestResult:
        """Run test ``index`` in a fresh sandbox and check it (blocking)."""
        test = plan.request.tests[index]
        assert plan.checker is not None
        if plan.interactor is not None:
            stage, checked = plan.interactor.run(plan.solution, test.stdin,
                                                 test.expected or b"")
            return TestResult(test.name, checked.verdict, stage, checked.feedback)
        try:
            stage = self.runner.run_prepared(plan.solution, test.stdin)
        except ExecboxError as exc:  # execbox failed, not the program: IE, said so
            return TestResult(test.name, Verdict.IE,
                              StageResult(Status.INTERNAL_ERROR, message=str(exc)), str(exc))
        try:
            checked = judge_run(stage, test, plan.checker)
        except ExecboxError as exc:
            checked = CheckResult(Verdict.IE, f"the checker could not run: {exc}")
        return TestResult(test.name, checked.verdict, stage, checked.feedback)

    def finish(self, plan: Plan, results: list[TestResult | None]) -> JudgeResult:
        """The request's result from its tests' (None: not run)."""
        if plan.done is not None:
            return plan.done
        tests = [r if r is not None else TestResult(t.name, None, None, SKIPPED)
                 for t, r in zip(plan.request.tests, results, strict=True)]
        verdict = verdicts.overall(t.verdict for t in tests)
        ran = [t for t in tests if t.verdict is not None]
        deciding = next((t for t in ran if t.failed), ran[-1] if ran else None)
        status = (deciding.run.status if deciding is not None and deciding.run is not None
                  else Status.INTERNAL_ERROR)
        lang = plan.solution.language
        return JudgeResult(lang.name, lang.version, status, verdict, plan.solution.compile,
                           tests, plan.solution.cached)

    def judge(self, request: JudgeRequest, workers: int = 1) -> JudgeResult:
        """Everything, blocking: tests on ``workers`` threads (each its own sandbox)."""
        self.check(request)
        plan = self.prepare(request)
        if plan.done is not None:
            return plan.done
        results: list[TestResult | None] = [None] * len(request.tests)
        stop = threading.Event()

        def one(index: int) -> None:
            if stop.is_set():
                return
            results[index] = result = self.run_test(plan, index)
            if request.stop_on_failure and result.failed:
                stop.set()

        with ThreadPoolExecutor(max(1, workers), thread_name_prefix="execbox-judge") as pool:
            list(pool.map(one, range(len(request.tests))))
        return self.finish(plan, results)

    # -- helpers -------------------------------------------------------------------------
    def _solution(self, request: JudgeRequest) -> RunRequest:
        return replace(request.run, stdin=b"", env={**request.run.env, **FIXED_ENV})

    def _checker_program(self, program: RunRequest) -> RunRequest:
        """A checker or interactor program, with the testlib argv and its limits."""
        limits = {**self.settings.checker_limits, **program.limits}
        return replace(program, stdin=b"", args=ARGV, limits=limits,
                       env={**program.env, **FIXED_ENV})

    def _program_checker(self, prepared: Prepared) -> Checker:
        program = ProgramChecker(self.runner, prepared, self.settings.feedback_chars)

        def checker(test: TestCase, output: bytes) -> CheckResult:
            return program.check(test.stdin, output, test.expected or b"")

        return checker


def _text(data: bytes) -> str:
    """Bytes as text for a checker: UTF-8, undecodable bytes kept distinct."""
    return data.decode("utf-8", "surrogateescape")


def _why(stage: StageResult, verdict: Verdict) -> str | None:
    """A short reason for a verdict the run's status decided."""
    if stage.status is Status.INTERNAL_ERROR:
        return stage.message
    if verdict is Verdict.MLE and stage.limit is None:
        return "java.lang.OutOfMemoryError: the heap, sized from memory_mb, is exhausted"
    if stage.limit is not None:
        return f"{stage.limit.value} limit"
    if stage.signal:
        return f"killed by {stage.signal}"
    if stage.status is Status.BLOCKED_SYSCALL:
        return "a blocked system call"
    if stage.exit_code:
        return f"exit code {stage.exit_code}"
    return None
