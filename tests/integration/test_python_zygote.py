"""The preloaded Python of a warm sandbox behaves like `python3 main.py`: same output,
same exit status, same tracebacks (no zygote frames), for a range of programs."""

from __future__ import annotations

import pytest

from execbox.languages.zygotes import source
from execbox.sandbox.namespace_backend import NamespaceBackend
from execbox.sandbox.spec import SandboxFile, SandboxSettings, SandboxSpec
from execbox.types import Status

pytestmark = pytest.mark.root

ZYGOTE = ("/usr/bin/python3", "-c", source("python"))
HELPER = SandboxFile("helper.py", b"def twice(x):\n    return 2 * x\n")

PROGRAMS = {
    "stdin_and_args": b"import sys\nprint(input().upper(), sys.argv)\n",
    "exception": b"def f():\n    1/0\nf()\n",
    "exit_code": b"import sys\nprint('bye')\nsys.exit(3)\n",
    "exit_message": b"import sys\nsys.exit('fatal: no')\n",
    "os_exit": b"import os, sys\nsys.stdout.write('lost?')\nos._exit(4)\n",
    "atexit_and_threads": (
        b"import atexit, threading, time\n"
        b"atexit.register(lambda: print('atexit ran'))\n"
        b"def late():\n    time.sleep(0.05)\n    print('thread done', flush=True)\n"
        b"threading.Thread(target=late).start()\nprint('main done')\n"),
    "dunders": b"print(__name__, __file__)\nimport os\nprint(os.getcwd())\n",
    "import_sibling": b"import helper\nprint(helper.twice(21))\n",
    "syntax_error": b"def (:\n",
    "environment": b"import os\nprint(sorted(k for k in os.environ if k in ('HOME','LANG','X')))\n",
    "keyboard_interrupt": b"raise KeyboardInterrupt\n",
    "recursion": b"import sys\nsys.setrecursionlimit(10**6)\ndef f(n): return f(n+1)\nf(0)\n",
}


@pytest.fixture(scope="module")
def backend():
    b = NamespaceBackend(SandboxSettings())
    yield b
    b.close()


def _spec(code: bytes) -> SandboxSpec:
    return SandboxSpec(argv=("/usr/bin/python3", "main.py", "arg1"),
                       files=(SandboxFile("main.py", code), HELPER), stdin=b"hi\n",
                       env={"X": "1"})


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_zygote_matches_a_plain_interpreter(backend, name):
    spec = _spec(PROGRAMS[name])
    cold = backend.run(spec)
    warm = backend.execute(backend.build(zygote=ZYGOTE), spec)
    assert warm.status == cold.status
    assert warm.exit_code == cold.exit_code
    assert warm.signal == cold.signal
    assert warm.stdout == cold.stdout
    assert warm.stderr == cold.stderr


def test_limits_apply_to_the_zygote(backend):
    from execbox.types import LimitKind, Limits

    spec = SandboxSpec(argv=("/usr/bin/python3", "main.py"),
                       files=(SandboxFile("main.py", b"while True: pass\n"),),
                       limits=Limits(cpu_time_ms=300, wall_time_ms=2000))
    r = backend.execute(backend.build(zygote=ZYGOTE), spec)
    assert (r.status, r.limit) == (Status.TIME_LIMIT, LimitKind.CPU_TIME)
    # the interpreter's own start-up is not counted as the program's time
    quick = backend.execute(backend.build(zygote=ZYGOTE), _spec(b"print(1)\n"))
    assert quick.cpu_time_ms < 20
