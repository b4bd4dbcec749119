"""The judge: tests, checkers and verdicts, above the runner (see ``judge.py``)."""

from execbox.judge.checkers import CheckResult
from execbox.judge.judge import (
    BuiltinChecker,
    CheckerProgram,
    Judge,
    JudgeRequest,
    JudgeResult,
    JudgeSettings,
    Plan,
    TestCase,
    TestResult,
    judge_run,
    text_checker,
)
from execbox.judge.verdicts import Verdict

__all__ = ["BuiltinChecker", "CheckResult", "CheckerProgram", "Judge", "JudgeRequest",
           "JudgeResult", "JudgeSettings", "Plan", "TestCase", "TestResult", "Verdict",
           "judge_run", "text_checker"]
