"""Stage status → verdict, testlib exit codes → verdict, the overall verdict, and the
Judge0 status ids the adapter derives from the same verdicts. Pure: no sandbox."""

from __future__ import annotations

import pytest

from execbox.api.compat.judge0 import _status as judge0_status
from execbox.judge import verdicts
from execbox.judge.checkers import builtin
from execbox.judge.judge import TestCase, judge_run, text_checker
from execbox.judge.program_checker import from_testlib
from execbox.judge.verdicts import Verdict
from execbox.runner.runner import RunResult
from execbox.types import LimitKind, StageResult, Status

V = Verdict


@pytest.mark.parametrize("status,verdict", [
    (Status.OK, None),
    (Status.TIME_LIMIT, V.TLE),
    (Status.MEMORY_LIMIT, V.MLE),
    (Status.OUTPUT_LIMIT, V.OLE),
    (Status.RUNTIME_ERROR, V.RE),
    (Status.SIGNALED, V.RE),
    (Status.BLOCKED_SYSCALL, V.RE),
    (Status.COMPILE_ERROR, V.CE),
    (Status.INTERNAL_ERROR, V.IE),
])
def test_every_status_has_its_verdict(status, verdict):
    assert verdicts.of_status(status) is verdict
    assert verdicts.of_run(StageResult(status)) is verdict


def test_statuses_are_all_mapped():
    for status in Status:
        verdicts.of_status(status)  # never a KeyError


def test_a_jvm_out_of_heap_is_a_memory_limit():
    oom = StageResult(Status.RUNTIME_ERROR, exit_code=1,
                      stderr=b'Exception in thread "main" java.lang.OutOfMemoryError: '
                             b"Java heap space\n")
    assert verdicts.of_run(oom) is V.MLE
    other = StageResult(Status.RUNTIME_ERROR, exit_code=1, stderr=b"NullPointerException")
    assert verdicts.of_run(other) is V.RE


def test_compile_failures():
    assert verdicts.of_compile(Status.RUNTIME_ERROR) is V.CE
    assert verdicts.of_compile(Status.TIME_LIMIT) is V.CE  # the compiler ran too long
    assert verdicts.of_compile(Status.INTERNAL_ERROR) is V.IE


@pytest.mark.parametrize("seq,top", [
    ([V.AC, V.AC], V.AC),
    ([V.AC, V.WA, V.TLE], V.WA),
    ([V.TLE, V.WA], V.TLE),
    ([V.AC, None, V.RE, None], V.RE),  # None: skipped
    ([V.AC, None], V.AC),
    ([], V.AC),
])
def test_overall_is_the_first_non_ac(seq, top):
    assert verdicts.overall(seq) is top


def _checker_run(code: int | None, status: Status = Status.RUNTIME_ERROR,
                 stderr: bytes = b"", stdout: bytes = b"") -> StageResult:
    if code == 0:
        status = Status.OK
    return StageResult(status, exit_code=code, stderr=stderr, stdout=stdout)


@pytest.mark.parametrize("run,verdict,feedback", [
    (_checker_run(0, stderr=b"ok 3 numbers\n"), V.AC, "ok 3 numbers"),
    (_checker_run(0), V.AC, None),
    (_checker_run(1, stderr=b"3rd number differs"), V.WA, "3rd number differs"),
    (_checker_run(1, stdout=b"said on stdout"), V.WA, "said on stdout"),
    (_checker_run(2, stderr=b"expected an integer"), V.WA,
     "presentation error: expected an integer"),
    (_checker_run(3, stderr=b"bad answer file"), V.IE, "the checker failed: bad answer file"),
    (_checker_run(7), V.IE, "the checker exited with 7, not a testlib code (0-3)"),
    (StageResult(Status.SIGNALED, signal="SIGSEGV"), V.IE, "the checker ended with signaled"),
    (StageResult(Status.TIME_LIMIT, limit=LimitKind.CPU_TIME), V.IE,
     "the checker ended with time_limit limit=cpu_time"),
])
def test_testlib_exit_codes(run, verdict, feedback):
    result = from_testlib(run)
    assert result.verdict is verdict
    if feedback is None:
        assert result.feedback is None
    else:
        assert result.feedback is not None and result.feedback.startswith(feedback)


def test_checker_feedback_is_capped():
    result = from_testlib(_checker_run(1, stderr=b"x" * 10_000), feedback_chars=100)
    assert result.feedback == "x" * 100 + "..."


def test_judge_run_lets_the_status_decide_before_the_checker():
    check = text_checker(builtin("tokens"))
    test = TestCase("1", expected=b"5\n")
    ok = StageResult(Status.OK, exit_code=0, stdout=b"5\n")
    assert judge_run(ok, test, check).verdict is V.AC
    wrong = StageResult(Status.OK, exit_code=0, stdout=b"6\n")
    assert judge_run(wrong, test, check).verdict is V.WA
    # right output, but killed at the time limit: TLE, not AC
    slow = StageResult(Status.TIME_LIMIT, stdout=b"5\n", limit=LimitKind.CPU_TIME)
    result = judge_run(slow, test, check)
    assert result.verdict is V.TLE and result.feedback == "cpu_time limit"
    crashed = StageResult(Status.SIGNALED, signal="SIGSEGV", stdout=b"5\n")
    assert judge_run(crashed, test, check).feedback == "killed by SIGSEGV"
    exited = StageResult(Status.RUNTIME_ERROR, exit_code=3)
    assert judge_run(exited, test, check).feedback == "exit code 3"
    # no expected output: any output of a clean run is accepted
    assert judge_run(wrong, TestCase("1"), check).verdict is V.AC


def _result(stage: StageResult | None, status: Status | None = None,
            compile_: StageResult | None = None) -> RunResult:
    return RunResult("python", "3", status or (stage.status if stage else Status.OK),
                     compile_, stage)


@pytest.mark.parametrize("result,expected,status_id", [
    (_result(StageResult(Status.OK, 0, stdout=b"5\n")), "5", 3),
    (_result(StageResult(Status.OK, 0, stdout=b"5  \n\n")), "5\n", 3),  # Judge0 strips
    (_result(StageResult(Status.OK, 0, stdout=b"1\r\n2\r\n")), "1\n2", 3),
    (_result(StageResult(Status.OK, 0, stdout=b" 5\n")), "5", 4),  # but not the front
    (_result(StageResult(Status.OK, 0, stdout=b"1\n\n2\n")), "1\n2", 4),
    (_result(StageResult(Status.OK, 0, stdout=b"anything")), None, 3),
    (_result(StageResult(Status.TIME_LIMIT, limit=LimitKind.WALL_TIME)), "5", 5),
    (_result(None, Status.COMPILE_ERROR, StageResult(Status.RUNTIME_ERROR, 1)), None, 6),
    (_result(None, Status.INTERNAL_ERROR, StageResult(Status.INTERNAL_ERROR)), None, 13),
    (_result(StageResult(Status.SIGNALED, signal="SIGSEGV")), None, 7),
    (_result(StageResult(Status.OUTPUT_LIMIT, signal="SIGXFSZ")), None, 8),
    (_result(StageResult(Status.OUTPUT_LIMIT, limit=LimitKind.OUTPUT)), None, 8),
    (_result(StageResult(Status.SIGNALED, signal="SIGFPE")), None, 9),
    (_result(StageResult(Status.SIGNALED, signal="SIGABRT")), None, 10),
    (_result(StageResult(Status.RUNTIME_ERROR, 1)), "5", 11),
    (_result(StageResult(Status.RUNTIME_ERROR, 1, stderr=b"java.lang.OutOfMemoryError")),
     None, 11),
    (_result(StageResult(Status.MEMORY_LIMIT, signal="SIGKILL")), None, 12),
    (_result(StageResult(Status.BLOCKED_SYSCALL, signal="SIGSYS")), None, 12),
    (_result(StageResult(Status.INTERNAL_ERROR)), None, 13),
])
def test_judge0_status_ids_come_from_the_verdicts(result, expected, status_id):
    assert judge0_status(result, expected) == status_id
