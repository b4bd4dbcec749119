"""The preloaded Python of a warm sandbox behaves like `python3 main.py`: same output,
same exit status, same tracebacks (no zygote frames), for a range of programs — both as
an exec'd zygote and forked in-process from a template spawner."""

from __future__ import annotations

import pytest

from execbox.languages.zygotes import source
from execbox.sandbox.namespace_backend import NamespaceBackend
from execbox.sandbox.spec import SandboxFile, SandboxSettings, SandboxSpec
from execbox.types import Status

pytestmark = pytest.mark.root

ZYGOTE = ("/usr/bin/python3", "-c", source("python"))
INPROCESS = ("/usr/bin/python3", "execbox.languages.zygotes.python_zygote:run")
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


@pytest.fixture(params=["zygote", "inprocess"])
def build(request, backend):
    if request.param == "zygote":
        return lambda: backend.build(zygote=ZYGOTE)
    return lambda: backend.build(inprocess=INPROCESS)


def _spec(code: bytes) -> SandboxSpec:
    return SandboxSpec(argv=("/usr/bin/python3", "main.py", "arg1"),
                       files=(SandboxFile("main.py", code), HELPER), stdin=b"hi\n",
                       env={"X": "1"})


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_zygote_matches_a_plain_interpreter(backend, build, name):
    spec = _spec(PROGRAMS[name])
    cold = backend.run(spec)
    warm = backend.execute(build(), spec)
    assert warm.status == cold.status
    assert warm.exit_code == cold.exit_code
    assert warm.signal == cold.signal
    assert warm.stdout == cold.stdout
    assert warm.stderr == cold.stderr


def test_limits_apply_to_the_zygote(backend, build):
    from execbox.types import LimitKind, Limits

    spec = SandboxSpec(argv=("/usr/bin/python3", "main.py"),
                       files=(SandboxFile("main.py", b"while True: pass\n"),),
                       limits=Limits(cpu_time_ms=300, wall_time_ms=2000))
    r = backend.execute(build(), spec)
    assert (r.status, r.limit) == (Status.TIME_LIMIT, LimitKind.CPU_TIME)
    # the interpreter's own start-up is not counted as the program's time
    quick = backend.execute(build(), _spec(b"print(1)\n"))
    assert quick.cpu_time_ms < 20


def test_inprocess_program_sees_nothing_of_the_template(backend):
    code = (b"import sys, gc\n"
            b"print(sorted(m for m in sys.modules if 'execbox' in m))\n"
            b"print(sys.flags.utf8_mode, sys.flags.isolated)\n"
            b"print(open('/proc/self/status').read().count('execbox'))\n")
    r = backend.execute(backend.build(inprocess=INPROCESS), _spec(code))
    assert r.status is Status.OK, r
    assert r.stdout == b"[]\n0 0\n0\n"


SCAN = b"""
# the needle comes in two halves and is never put together, so only someone else's
# copy of it can be found
head, tail = (bytes.fromhex(x) for x in input().split())
found = 0
with open('/proc/self/maps') as maps, open('/proc/self/mem', 'rb', 0) as mem:
    for line in maps:
        lo, hi = (int(x, 16) for x in line.split()[0].split('-'))
        if 'r' not in line.split()[1] or hi - lo > 1 << 30:
            continue
        try:
            mem.seek(lo)
            data = mem.read(hi - lo)
        except (OSError, ValueError, OverflowError):
            continue
        at = data.find(head)
        while at >= 0:
            found += data[at + len(head):at + len(head) + len(tail)] == tail
            at = data.find(head, at + 1)
print(found)
"""


def test_no_request_finds_another_requests_data_in_its_memory(backend, build):
    import os

    secret = os.urandom(16).hex().encode()
    first = backend.execute(build(), SandboxSpec(
        argv=("/usr/bin/python3", "main.py"),
        files=(SandboxFile("main.py", b"print(len(input()))\n# " + secret + b"\n"),),
        stdin=secret + b"\n"))
    assert first.status is Status.OK
    needle = secret[:16].hex().encode() + b" " + secret[16:].hex().encode()
    probe = backend.execute(build(), SandboxSpec(
        argv=("/usr/bin/python3", "main.py"), files=(SandboxFile("main.py", SCAN),),
        stdin=needle + b"\n"))
    assert probe.status is Status.OK, probe
    assert probe.stdout == b"0\n"


def test_the_memory_scan_finds_what_is_there(backend, build):
    """The control: the scanner does find a copy the program itself made."""
    code = SCAN.replace(b"found = 0", b"found = 0\nkept = head + tail")
    r = backend.execute(build(), SandboxSpec(
        argv=("/usr/bin/python3", "main.py"), files=(SandboxFile("main.py", code),),
        stdin=b"00112233 44556677\n"))
    assert r.status is Status.OK and int(r.stdout) >= 1, r
