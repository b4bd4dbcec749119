"""The CLI as a new user runs it: doctor, then one-shot Python and C programs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.root

EXECBOX = [sys.executable, "-m", "execbox"]


def execbox(*args: str, stdin: bytes = b"", cwd: str | None = None):
    return subprocess.run([*EXECBOX, *args], input=stdin, capture_output=True, cwd=cwd,
                          timeout=120)


def test_doctor_reports_every_layer_and_passes_here():
    r = execbox("doctor", "--json")
    checks = {c["name"]: c for c in json.loads(r.stdout)}
    assert r.returncode == 0, r.stdout
    for name in ("root", "namespace:pid", "namespace:net", "mounts", "network", "seccomp",
                 "cgroups", "sandbox"):
        assert checks[name]["ok"] and checks[name]["required"], checks[name]
    assert "kvm" in checks and "gvisor" in checks


def test_python_one_shot_json(tmp_path):
    (tmp_path / "main.py").write_text("print(int(input()) * 2)\n")
    r = execbox("exec", "--json", "--file", "main.py", "--stdin", "-", "--",
                "/usr/bin/python3", "main.py", stdin=b"21\n", cwd=str(tmp_path))
    result = json.loads(r.stdout)
    assert r.returncode == 0 and result["status"] == "ok" and result["stdout"] == "42\n"


def test_c_compiled_in_a_sandbox_then_run(tmp_path):
    (tmp_path / "ab.c").write_text(
        '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);'
        'printf("%d\\n",a+b);return 0;}\n')
    r = execbox("exec", "--file", "ab.c", "--collect", "ab", "--", "/usr/bin/gcc", "-O2",
                "-o", "ab", "ab.c", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert os.access(tmp_path / "ab", os.X_OK)
    r = execbox("exec", "--file", "ab", "--stdin", "-", "--", "./ab", stdin=b"2 3",
                cwd=str(tmp_path))
    assert r.returncode == 0 and r.stdout == b"5\n"
    assert b"[execbox] ok" in r.stderr


def test_exit_code_reflects_the_status():
    r = execbox("exec", "--limit", "wall_time_ms=200", "--", "/bin/sleep", "5")
    assert r.returncode == 3 and b"time_limit" in r.stderr


def test_bad_usage_is_a_clear_error():
    r = execbox("exec", "--limit", "memory=5", "--", "/bin/true")
    assert r.returncode == 64 and b"unknown limit" in r.stderr


def _languages():
    from execbox.languages.registry import Registry

    return Registry.load().available()


@pytest.mark.parametrize("lang", _languages(), ids=lambda lang: lang.name)
def test_every_language_runs_a_plus_b_through_execbox_run(lang, tmp_path):
    """As a new user would: a file with the language's extension, stdin from a pipe."""
    source = tmp_path / lang.source
    source.write_text(lang.selftest.code)
    args = ["run", source.name, "--stdin", "-"]
    if not lang.extensions:  # shares its extension with another (c-clang, octave...)
        args += ["--lang", lang.name]
    r = execbox(*args, stdin=lang.selftest.stdin.encode(), cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode() == lang.selftest.expected
