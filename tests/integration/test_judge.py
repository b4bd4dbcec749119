"""The judge over real HTTP and real sandboxes.

The data suite (``tests/judge/<problem>/problem.toml``: tests, a checker, solutions in
several languages each with the verdict it must get) runs through the native API (one
request with ``tests``) and, where the checker is Judge0's own comparison, through Judge0
submissions with ``expected_output`` (one per test): both must give its verdict.
"""

from __future__ import annotations

import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import live_server
from execbox.pool import PoolSettings
from execbox.service import ServiceSettings

pytestmark = pytest.mark.root

SUITE = Path(__file__).resolve().parents[1] / "judge"
JUDGE0_IDS = {"c": 50, "cpp": 54, "java": 62, "python": 71}
# Judge0 has no MLE or OLE: its statuses for what the native API calls each verdict
JUDGE0_STATUS = {"AC": {3}, "WA": {4}, "TLE": {5}, "CE": {6}, "OLE": {8},
                 "RE": {7, 9, 10, 11, 12}, "MLE": {11, 12}, "IE": {13}}


@dataclass
class Solution:
    file: str
    language: str
    verdict: str
    feedback: str | None = None  # a part of the first failed test's feedback

    @property
    def id(self) -> str:
        return f"{self.file.rsplit('/', 1)[-1]}"


@dataclass
class Problem:
    name: str
    root: Path
    checker: Any
    tests: list[tuple[str, str, str]]  # name, stdin, expected
    solutions: list[Solution]
    judge0: bool = False
    stop_on_failure: bool = False
    limits: dict[str, int] = field(default_factory=dict)
    language_limits: dict[str, dict[str, int]] = field(default_factory=dict)
    interactor: dict[str, str] | None = None  # an interactive problem's

    def limits_of(self, language: str) -> dict[str, int]:
        return {**self.limits, **self.language_limits.get(language, {})}

    def interactor_json(self) -> dict[str, str] | None:
        if self.interactor is None:
            return None
        spec = dict(self.interactor)
        spec["code"] = (self.root / spec.pop("file")).read_text()
        return spec

    def checker_json(self) -> Any:
        if self.interactor is not None:
            return None  # the interactor decides
        if isinstance(self.checker, dict) and "file" in self.checker:
            spec = dict(self.checker)
            spec["code"] = (self.root / spec.pop("file")).read_text()
            return spec
        return self.checker


def load(root: Path) -> Problem:
    data = tomllib.loads((root / "problem.toml").read_text())
    tests_dir = root / data.get("tests", "tests")
    tests = [(p.stem, p.read_text(), p.with_suffix(".out").read_text())
             for p in sorted(tests_dir.glob("*.in"))]
    return Problem(
        name=root.name, root=root, checker=data.get("checker", "tokens"), tests=tests,
        solutions=[Solution(**s) for s in data["solutions"]],
        judge0=data.get("judge0", False), stop_on_failure=data.get("stop_on_failure", False),
        limits=data.get("limits", {}), language_limits=data.get("language_limits", {}),
        interactor=data.get("interactor"))


PROBLEMS = [load(p) for p in sorted(SUITE.iterdir()) if (p / "problem.toml").exists()]
CASES = [pytest.param(p, s, id=f"{p.name}/{s.id}") for p in PROBLEMS for s in p.solutions]


@pytest.fixture(scope="module")
def judge_server():
    settings = ServiceSettings(concurrency=2, queue=64, warm_languages=("c", "python", "java"),
                               pool=PoolSettings(min_warm=1, max_size=4))
    with live_server(settings) as client:
        yield client


def judge_native(client: httpx.Client, problem: Problem, solution: Solution) -> dict[str, Any]:
    r = client.post("/v1/execute", timeout=120, json={
        "language": solution.language, "code": (problem.root / solution.file).read_text(),
        "limits": problem.limits_of(solution.language), "checker": problem.checker_json(),
        "stop_on_failure": problem.stop_on_failure, "interactor": problem.interactor_json(),
        "tests": [{"name": n, "stdin": i, "expected_output": o} for n, i, o in problem.tests]})
    assert r.status_code == 200, r.text
    return r.json()


def judge_judge0(client: httpx.Client, problem: Problem, solution: Solution) -> list[int]:
    """One Judge0 submission per test, in order, until the first that is not Accepted."""
    limits = problem.limits_of(solution.language)
    statuses = []
    for _, stdin, expected in problem.tests:
        body: dict[str, Any] = {
            "language_id": JUDGE0_IDS[solution.language],
            "source_code": (problem.root / solution.file).read_text(),
            "stdin": stdin, "expected_output": expected}
        if "cpu_time_ms" in limits:
            body["cpu_time_limit"] = limits["cpu_time_ms"] / 1000
        if "wall_time_ms" in limits:
            body["wall_time_limit"] = limits["wall_time_ms"] / 1000
        if "memory_mb" in limits:
            body["memory_limit"] = limits["memory_mb"] * 1024
        r = client.post("/submissions?wait=true&fields=status_id,stdout", json=body,
                        timeout=120)
        assert r.status_code == 201, r.text
        statuses.append(r.json()["status_id"])
        if statuses[-1] != 3:
            break
    return statuses


def test_the_suite_has_what_the_issue_asks():
    names = {p.name for p in PROBLEMS}
    aplusb = next(p for p in PROBLEMS if p.name == "aplusb")
    assert len(aplusb.tests) == 20
    have = {(s.language, s.verdict) for s in aplusb.solutions}
    for language in ("c", "python", "java"):
        assert (language, "AC") in have and (language, "WA") in have
    assert {v for _, v in have} == {"AC", "WA", "TLE", "MLE", "RE", "CE", "OLE"}
    checkers = [p.checker for p in PROBLEMS]
    assert any(isinstance(c, dict) and c.get("type") == "float" for c in checkers)
    assert "unordered" in checkers
    assert any(isinstance(c, dict) and c.get("type") == "program" for c in checkers)
    assert len(names) >= 4
    assert any(p.interactor is not None for p in PROBLEMS)


@pytest.mark.parametrize("problem,solution", CASES)
def test_suite(judge_server, problem: Problem, solution: Solution):
    started = time.monotonic()
    answer = judge_native(judge_server, problem, solution)
    verdicts = [t["verdict"] for t in answer["tests"]]
    detail = [(t["name"], t["verdict"], t["status"], t["feedback"], (t["stderr"] or "")[:300])
              for t in answer["tests"] if t["verdict"] not in ("AC", None)]
    assert answer["verdict"] == solution.verdict, (answer["compile"], detail)
    assert [t["name"] for t in answer["tests"]] == [n for n, _, _ in problem.tests]
    if solution.verdict == "AC":
        assert verdicts == ["AC"] * len(problem.tests)
        assert answer["status"] == "ok"
    elif solution.verdict == "CE":
        assert answer["status"] == "compile_error" and answer["compile"]["stderr"]
        assert set(verdicts) == {"CE"}
    else:
        first = next(t for t in answer["tests"] if t["verdict"] not in ("AC", None))
        assert first["verdict"] == solution.verdict
        assert solution.feedback is None or solution.feedback in first["feedback"], first
    native_ms = (time.monotonic() - started) * 1000
    if not problem.judge0:
        print(f"{problem.name}/{solution.id}: {answer['verdict']} native {native_ms:.0f} ms")
        return
    started = time.monotonic()
    statuses = judge_judge0(judge_server, problem, solution)
    judge0_ms = (time.monotonic() - started) * 1000
    print(f"{problem.name}/{solution.id}: {answer['verdict']} native {native_ms:.0f} ms, "
          f"judge0 {statuses} {judge0_ms:.0f} ms")
    # the same verdict, test by test, as far as both went
    for status, verdict in zip(statuses, verdicts, strict=False):
        if verdict is not None:
            assert status in JUDGE0_STATUS[verdict], (statuses, verdicts)
    assert statuses[-1] in JUDGE0_STATUS[solution.verdict], statuses


# --- the API around the suite: shape, validation, early stop, async, checker programs ---

ECHO = "print(input())"
AB_PY = "a, b = map(int, input().split())\nprint(a + b)"


def execute(client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return client.post("/v1/execute", json=body, timeout=60)


def test_the_answer_has_a_verdict_and_a_stage_per_test(judge_server):
    r = execute(judge_server, {"language": "python", "code": AB_PY, "tests": [
        {"name": "small", "stdin": "2 3", "expected_output": "5"},
        {"stdin": "1 1", "expected_output": "3"},
        {"stdin": "2 2", "expected_output": "4\n"},
        {"stdin": "x"}]})  # no expected output: only the status decides
    body = r.json()
    assert r.status_code == 200
    assert body["verdict"] == "WA" and body["status"] == "ok"
    assert body["run"] is None and body["compile"] is None and body["id"]
    small, second, third, fourth = body["tests"]
    assert small["name"] == "small" and small["verdict"] == "AC" and small["stdout"] == "5\n"
    assert second["name"] == "2" and second["verdict"] == "WA"
    assert second["feedback"] == "token 1: expected '3', got '2'"
    assert third["verdict"] == "AC" and third["exit_code"] == 0
    assert fourth["verdict"] == "RE" and fourth["status"] == "runtime_error"
    assert "ValueError" in fourth["stderr"] and fourth["feedback"] == "exit code 1"
    stage_keys = {"status", "exit_code", "signal", "stdout", "stderr", "stdout_truncated",
                  "stderr_truncated", "cpu_time_ms", "wall_time_ms", "memory_kb", "limit"}
    assert stage_keys | {"name", "verdict", "feedback"} <= set(small)


def test_a_compile_error_judges_every_test_ce(judge_server):
    body = execute(judge_server, {"language": "c", "code": "int main( {", "tests": [
        {"stdin": "1", "expected_output": "1"}, {"stdin": "2", "expected_output": "2"}]}).json()
    assert body["verdict"] == "CE" and body["status"] == "compile_error"
    assert "error" in body["compile"]["stderr"]
    assert [t["verdict"] for t in body["tests"]] == ["CE", "CE"]
    assert all(t["status"] is None and t["stdout"] is None for t in body["tests"])


def test_the_top_status_is_the_deciding_tests(judge_server):
    code = "import sys\nn = int(input())\nsys.exit(n)"
    body = execute(judge_server, {"language": "python", "code": code, "tests": [
        {"stdin": "0", "expected_output": ""}, {"stdin": "3", "expected_output": ""},
        {"stdin": "0", "expected_output": ""}]}).json()
    assert body["verdict"] == "RE" and body["status"] == "runtime_error"
    assert [t["verdict"] for t in body["tests"]] == ["AC", "RE", "AC"]


def test_stop_on_failure_skips_the_tests_not_yet_started(judge_server):
    # test 1 fails at once; the others take 0.7 s: with 2 slots only test 2 had started
    code = "import time\nx = input()\nif x != 'bad':\n    time.sleep(0.7)\nprint(x)"
    tests = [{"stdin": "bad", "expected_output": "good"}] + [
        {"stdin": str(i), "expected_output": str(i)} for i in range(2, 7)]
    body = execute(judge_server, {"language": "python", "code": code, "tests": tests,
                                  "stop_on_failure": True}).json()
    verdicts = [t["verdict"] for t in body["tests"]]
    assert verdicts[0] == "WA" and body["verdict"] == "WA"
    assert verdicts[1] in ("AC", None) and verdicts[2:] == [None] * 4, verdicts
    skipped = body["tests"][5]
    assert skipped["status"] is None and "stop_on_failure" in skipped["feedback"]
    # without it, every test runs
    body = execute(judge_server, {"language": "python", "code": code, "tests": tests}).json()
    assert [t["verdict"] for t in body["tests"]] == ["WA"] + ["AC"] * 5


def test_tests_run_in_parallel_on_free_slots(judge_server):
    code = "import time\ntime.sleep(0.6)\nprint(input())"
    tests = [{"stdin": str(i), "expected_output": str(i)} for i in range(4)]
    started = time.monotonic()
    body = execute(judge_server, {"language": "python", "code": code, "tests": tests}).json()
    elapsed = time.monotonic() - started
    assert body["verdict"] == "AC"
    assert elapsed < 2.2, f"4 x 0.6 s on 2 slots took {elapsed:.2f} s"  # one at a time: 2.4


def test_judged_runs_have_a_fixed_locale_and_time_zone(judge_server):
    code = ("import os, time\nprint(os.environ['LANG'], os.environ['LC_ALL'], "
            "os.environ['TZ'], time.strftime('%Z'))")
    body = execute(judge_server, {"language": "python", "code": code,
                                  "env": {"TZ": "Europe/Paris", "LANG": "fr_FR.UTF-8"},
                                  "tests": [{"expected_output": "C.UTF-8 C.UTF-8 UTC UTC"}],
                                  "checker": "exact"}).json()
    assert body["tests"][0]["stdout"] == "C.UTF-8 C.UTF-8 UTC UTC\n"
    assert body["verdict"] == "WA"  # "exact": the final newline counts
    body = execute(judge_server, {"language": "python", "code": code, "checker": "lines",
                                  "tests": [{"expected_output": "C.UTF-8 C.UTF-8 UTC UTC"}]})
    assert body.json()["verdict"] == "AC"


def test_crlf_output_is_normalised_except_by_exact(judge_server):
    code = "import sys\nsys.stdout.buffer.write(b'1 2\\r\\n3\\r\\n')"
    tests = [{"expected_output": "1 2\n3\n"}]
    for checker, verdict in [("exact", "WA"), ("lines", "AC"), ("tokens", "AC"),
                             ("unordered", "AC"), ({"type": "float"}, "AC")]:
        body = execute(judge_server, {"language": "python", "code": code, "tests": tests,
                                      "checker": checker}).json()
        assert body["verdict"] == verdict, (checker, body["tests"][0]["feedback"])


def test_metrics_count_every_test_run(judge_server):
    def count() -> float:
        for line in judge_server.get("/metrics").text.splitlines():
            if line.startswith('execbox_runs_total{language="python",status="ok"}'):
                return float(line.split()[-1])
        return 0.0

    before = count()
    execute(judge_server, {"language": "python", "code": ECHO,
                           "tests": [{"stdin": str(i)} for i in range(3)]})
    assert count() == before + 3


@pytest.mark.parametrize("extra,message", [
    ({"tests": []}, "tests"),
    ({"tests": [{"stdin": "1"}] * 257}, "at most 256"),
    ({"tests": [{"name": "a"}, {"name": "a"}]}, "unique"),
    ({"tests": [{"expected_output": "x" * (4 * 1024 * 1024 + 1)}]}, "over"),
    ({"tests": [{"stdin": "1", "surprise": 1}]}, "surprise"),
    ({"tests": [{"stdin": "1"}], "stdin": "2"}, "each test its stdin"),
    ({"tests": [{"stdin": "1"}], "checker": "nope"}, "checker"),
    ({"tests": [{"stdin": "1"}], "checker": {"type": "float", "epsilon": -1}}, "epsilon"),
    ({"tests": [{"stdin": "1"}], "checker": {"type": "tokens", "epsilon": 1}}, "epsilon"),
    ({"checker": "tokens"}, "need tests"),
    ({"stop_on_failure": True}, "need tests"),
    ({"tests": [{"stdin": "1"}], "checker": {"type": "program", "language": "nope",
                                              "code": "x"}}, "nope"),
    ({"tests": [{"stdin": "1"}], "checker": {"type": "program", "language": "python"}},
     "code or"),
    ({"tests": [{"stdin": "1"}], "checker": {
        "type": "program", "language": "python",
        "files": [{"name": "c.py", "content": "x"}, {"name": "answer.txt", "content": ""}]}},
     "answer.txt"),
    ({"tests": [{"stdin": "1"}], "checker": {"type": "program", "language": "python",
                                              "code": "x", "limits": {"memory_mb": 999999}}},
     "caps"),
    ({"tests": [{"stdin": "1"}], "limits": {"cpu_time_ms": 99999999}}, "caps"),
])
def test_bad_judge_requests_are_400_before_anything_runs(judge_server, extra, message):
    r = execute(judge_server, {"language": "python", "code": ECHO, **extra})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] in ("invalid_request", "unknown_language")
    assert message in error["message"], error
    # the async route refuses the same, at once
    assert judge_server.post("/v1/runs", json={"language": "python", "code": ECHO,
                                               **extra}).status_code == 400


def test_async_runs_judge_tests_too(judge_server):
    r = judge_server.post("/v1/runs", json={
        "language": "c", "code": "#include <stdio.h>\nint main(){int a,b;scanf(\"%d %d\","
        "&a,&b);printf(\"%d\\n\",a*b);}",
        "tests": [{"stdin": "2 2", "expected_output": "4"},
                  {"stdin": "2 3", "expected_output": "5"}],
        "checker": {"type": "float", "epsilon": 0.5}})
    assert r.status_code == 202
    run_id = r.json()["id"]
    deadline = time.monotonic() + 30
    while (answer := judge_server.get(f"/v1/runs/{run_id}").json())["state"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert answer["verdict"] == "WA" and answer["compile"]["status"] == "ok"
    assert [t["verdict"] for t in answer["tests"]] == ["AC", "WA"]
    assert "expected 5, got 6" in answer["tests"][1]["feedback"]


CHECKER_PY = '''
import sys
inp, out, ans = (open(p).read() for p in sys.argv[1:4])
if out.strip() == "crash":
    raise SystemExit(3)
if out.strip() == "loop":
    while True:
        pass
if out.split() == inp.split()[::-1]:
    print("reversed", len(inp.split()), "words", file=sys.stderr)
    sys.exit(0)
print("not reversed; the answer file says", ans.strip(), file=sys.stderr)
sys.exit(1)
'''


def test_a_checker_program_sees_input_output_and_answer(judge_server):
    code = ("w = input().split()\n"
            "print('crash' if w[0] == 'c' else 'loop' if w[0] == 'l' else "
            "' '.join(w if w[0] == 'same' else w[::-1]))")
    body = execute(judge_server, {
        "language": "python", "code": code,
        "checker": {"type": "program", "language": "python", "code": CHECKER_PY,
                    "limits": {"cpu_time_ms": 500}},
        "tests": [{"stdin": "a b c", "expected_output": "c b a"},
                  {"stdin": "same x", "expected_output": "x same"},
                  {"stdin": "c", "expected_output": ""},
                  {"stdin": "l", "expected_output": ""}]}).json()
    ok, wrong, crash, loop = body["tests"]
    assert ok["verdict"] == "AC" and ok["feedback"] == "reversed 3 words"
    assert wrong["verdict"] == "WA" and wrong["status"] == "ok"
    assert wrong["feedback"] == "not reversed; the answer file says x same"
    assert crash["verdict"] == "IE" and crash["feedback"].startswith("the checker failed")
    assert loop["verdict"] == "IE" and "time_limit" in loop["feedback"]
    assert body["verdict"] == "WA"


def test_a_checker_that_does_not_compile_is_an_internal_error(judge_server):
    body = execute(judge_server, {
        "language": "python", "code": ECHO,
        "checker": {"type": "program", "language": "c", "code": "int main( {"},
        "tests": [{"stdin": "1", "expected_output": "1"}]}).json()
    assert body["verdict"] == "IE" and body["status"] == "internal_error"
    test = body["tests"][0]
    assert test["verdict"] == "IE" and test["status"] is None
    assert test["feedback"].startswith("the checker did not compile") and "error" in \
        test["feedback"]


def test_judge0_expected_output_agrees_with_the_lines_checker(judge_server):
    outputs = ["5\n", "5   \n\n\n", " 5\n", "5\n\n6\n", "5\r\n", "6\n"]
    for output in outputs:
        code = f"import sys\nsys.stdout.write({output!r})"
        native = execute(judge_server, {"language": "python", "code": code, "checker": "lines",
                                        "tests": [{"expected_output": "5\n6"}]}).json()
        j0 = judge_server.post("/submissions?wait=true", json={
            "language_id": 71, "source_code": code, "expected_output": "5\n6"}).json()
        assert (native["verdict"], j0["status"]["id"]) in (("AC", 3), ("WA", 4)), output


# --- the blocking Judge, on a real runner ---------------------------------------------

class CountingRunner:
    """A real Runner that counts compilations and runs."""

    def __init__(self, runner):
        self._runner = runner
        self.prepared = 0
        self.runs = 0
        self._lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(self._runner, name)

    def prepare(self, request):
        with self._lock:
            self.prepared += 1
        return self._runner.prepare(request)

    def run_prepared(self, prepared, stdin=b"", files=()):
        with self._lock:
            self.runs += 1
        return self._runner.run_prepared(prepared, stdin, files)


@pytest.fixture(scope="module")
def runner():
    from execbox.languages.registry import Registry
    from execbox.runner.runner import Runner
    from execbox.sandbox.namespace_backend import NamespaceBackend
    from execbox.sandbox.spec import SandboxSettings

    backend = NamespaceBackend(SandboxSettings())
    r = Runner(backend, Registry.load())  # cold: no pool, no compile cache
    yield r
    r.close()
    backend.close()


def _judge_request(language: str, code: str, tests, **kwargs):
    from execbox.judge import JudgeRequest, TestCase
    from execbox.runner.runner import RunRequest
    from execbox.sandbox.spec import SandboxFile

    source = {"c": "main.c", "python": "main.py"}[language]
    return JudgeRequest(
        run=RunRequest(language=language, files=(SandboxFile(source, code.encode()),)),
        tests=tuple(TestCase(str(i + 1), s.encode(), e.encode()) for i, (s, e)
                    in enumerate(tests)), **kwargs)


def test_the_judge_compiles_once_and_runs_each_test_in_its_own_sandbox(runner):
    from execbox.judge import CheckerProgram, Judge, Verdict
    from execbox.runner.runner import RunRequest
    from execbox.sandbox.spec import SandboxFile

    counting = CountingRunner(runner)
    # each run leaves a file behind; a fresh sandbox never sees the previous one's
    code = ('#include <stdio.h>\n#include <unistd.h>\nint main(void){long a,b;'
            'scanf("%ld %ld",&a,&b);int seen=access("mark",F_OK)==0;'
            'FILE*f=fopen("mark","w");if(f)fclose(f);printf("%ld\\n",seen?-1:a+b);}')
    checker = CheckerProgram(RunRequest(language="python", files=(SandboxFile(
        "check.py", b"import sys\nout, ans = (open(p).read().split() for p in sys.argv[2:4])\n"
                    b"sys.exit(0 if out == ans else 1)\n"),)))
    tests = [(f"{i} {i}", f"{2 * i}") for i in range(6)]
    request = _judge_request("c", code, tests, checker=checker)
    result = Judge(counting).judge(request, workers=2)
    assert result.verdict is Verdict.AC, [(t.verdict, t.feedback) for t in result.tests]
    assert counting.prepared == 2  # the solution and the checker, once each
    assert counting.runs == 12  # a solution run and a checker run per test
    assert result.compile is not None and result.compile.status.value == "ok"


def test_the_blocking_judge_stops_on_failure_in_order(runner):
    from execbox.judge import Judge, Verdict

    counting = CountingRunner(runner)
    tests = [("1", "1"), ("2", "3"), ("3", "3"), ("4", "4")]
    request = _judge_request("python", ECHO, tests, stop_on_failure=True)
    result = Judge(counting).judge(request, workers=1)
    assert [t.verdict for t in result.tests] == [Verdict.AC, Verdict.WA, None, None]
    assert counting.runs == 2 and result.verdict is Verdict.WA
    assert result.as_json()["tests"][2]["verdict"] is None
