# Makes an already-running interpreter behave like `python3 SCRIPT ARGS...` (or
# `python3 -c CODE ARGS...`) from the call of run() on. Two ways in:
#  - as a program text, `python3 -c <this file>`, started in a warm sandbox before any
#    request: it reports itself loaded on fd 4, then reads its order (JSON) from fd 3;
#  - imported by a template spawner running the sandbox's interpreter, which forks the
#    program into a sandbox and calls run() there (execbox.sandbox.template); execbox's
#    own modules are out of sys.modules by then (spawner_main), as in a plain python3.
# Only the standard library: inside the sandbox execbox itself is not installed.
import os
import sys
import types  # loaded before the order comes: it saves ~0.5 ms of the run
from importlib.machinery import SourceFileLoader

# The interpreter's first compile() sets up the parser (~0.7 ms here): done now, while
# warm, with the common constructs, rather than on the program's clock.
compile('import sys\ndef f(a, *b, c=1, **d):\n    """d"""\n    return [x for x in a if x]\n'
        'class C(object):\n    x: int = 0\nprint(f"{sys.argv!r} é", 1 if 2 else 3)\n'
        'try:\n    pass\nexcept Exception as e:\n    raise\nwith open("x") as g, g:\n'
        '    lambda: (yield)\n', "<warm-up>", "exec", dont_inherit=True)


# What prepare() runs: the interpreter's common paths (calls, formatting, comprehensions,
# a class, an exception, a file read, an import of a loaded module, compile), so that a
# program forked from a template finds those pages already its own.
_WARM_UP = compile(
    'import sys\ndef f(a, *b, c=1, **d):\n    return [x * 2 for x in a if x] + list(b)\n'
    'class C:\n    x: int = 0\n    def m(self):\n        return {k: v for k, v in '
    'zip("ab", (1, 2.5))}\n'
    'try:\n    raise ValueError(f"{C().m()!r} {f([1, 0, 3], 4, c=2, e=5)} é")\n'
    'except ValueError as e:\n    print(e, str(e).upper(), len(sys.argv), file=sink)\n'
    'with open("/dev/null", "rb") as g:\n    g.read()\n'
    'compile("x = 1", "<warm-up>", "exec")\n', "<warm-up>", "exec", dont_inherit=True)
_prepared = False


def prepare():
    """Before the order, what does not depend on it: the standard streams on fds 0-2
    (fd 0 may be replaced by the run's stdin later: same descriptor number) and one pass
    through the common paths. Nothing of it is visible to the program."""
    global _prepared
    import io

    _fresh_stdio()
    exec(_WARM_UP, {"__builtins__": __builtins__, "sink": io.StringIO()})  # noqa: S102
    sys.stdout.write("")
    _prepared = True


def run(argv, env):
    """Become the program. Never returns. One interpreter option is understood: -u."""
    os.environ.clear()
    os.environ.update(env)
    sys.orig_argv = list(argv)
    unbuffered = len(argv) >= 2 and argv[1] == "-u"
    if unbuffered:
        argv = argv[:1] + argv[2:]
    if unbuffered or not _prepared:
        _fresh_stdio(unbuffered)
    if len(argv) >= 3 and argv[1] == "-c":
        sys.argv = ["-c", *argv[3:]]
        sys.path[0] = ""
        script, code = "<string>", argv[2]
    else:
        script = os.path.abspath(argv[1])  # as Python 3.9+ makes __file__ of the script
        sys.argv = argv[1:]
        sys.path[0] = os.path.dirname(script)
        code = None
    sys.excepthook = _hide_own_frames(script)
    status = 0
    try:
        _execute(script, code)
    except SystemExit as exc:
        status = _exit_code(exc)
    except KeyboardInterrupt:
        sys.excepthook(*sys.exc_info())
        status = -2  # the interpreter dies of SIGINT so its parent knows
    except BaseException:
        sys.excepthook(*sys.exc_info())
        status = 1
    _exit(status)


def _fresh_stdio(unbuffered=False):
    # as the interpreter sets them up: UTF-8 (LANG=C.UTF-8), stdout block-buffered unless
    # a terminal, stderr line-buffered with backslashreplace; with -u both write through
    import io

    def stream(fd, mode, **options):
        raw = open(fd, mode + "b", closefd=False)  # noqa: SIM115 - lives as long as sys
        return io.TextIOWrapper(raw, encoding="utf-8", **options)

    sys.stdin = sys.__stdin__ = stream(0, "r")
    sys.stdout = sys.__stdout__ = stream(1, "w", line_buffering=os.isatty(1),
                                         write_through=unbuffered)
    sys.stderr = sys.__stderr__ = stream(2, "w", errors="backslashreplace",
                                         line_buffering=True, write_through=unbuffered)


def _hide_own_frames(script):
    default = sys.__excepthook__

    def hook(kind, value, tb):
        # a plain `python3 script` shows no frame above the script's own
        while tb is not None and tb.tb_frame.f_code.co_filename != script:
            tb = tb.tb_next
        if isinstance(value, BaseException):
            value = value.with_traceback(tb)  # the default hook prints value.__traceback__
        default(kind, value, tb)

    return hook


def _execute(script, code):
    # a fresh __main__ module, as the interpreter makes for `python3 SCRIPT`
    main = types.ModuleType("__main__")
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    if code is not None:
        compiled = compile(code, "<string>", "exec")
    else:
        main.__file__ = script
        main.__cached__ = None
        main.__loader__ = SourceFileLoader("__main__", script)
        with open(script, "rb") as f:
            compiled = compile(f.read(), script, "exec")
    exec(compiled, main.__dict__)  # noqa: S102 - the sandbox's program


def _exit_code(exc):
    # what the interpreter does with SystemExit(code)
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _exit(status):
    # The interpreter's own shutdown (module teardown, final GC) is skipped: nothing a
    # program can observe depends on it once threads are joined, atexit has run and the
    # standard streams are flushed.
    if "threading" in sys.modules:
        sys.modules["threading"]._shutdown()
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # e.g. a closed pipe: as Python does, exit 120
            status = status or 120
    if status == -2:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(status)


def _order():
    import json
    import socket

    os.write(4, b"1")  # loaded: the sandbox may now be handed out
    os.close(4)
    go = socket.socket(fileno=3)
    first, fds, _, _ = socket.recv_fds(go, 1 << 16, 1)
    chunks = [first]
    while True:
        chunk = go.recv(1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    go.close()
    for fd in fds:  # the run's stdin
        os.dup2(fd, 0)
        os.close(fd)
    return json.loads(b"".join(chunks))


if __name__ == "__main__":
    import resource

    prepare()
    _o = _order()
    for _res, _soft, _hard in _o["rlimits"]:
        resource.setrlimit(_res, (_soft, _hard))
    os.chdir(_o["cwd"])
    run(_o["argv"], _o["env"])
