# Runs inside a warm sandbox as `python3 -c <this text>`, before any request: the
# interpreter, site and the encodings are loaded; then it blocks on fd 3 for its order.
# It must behave like `python3 SCRIPT ARGS...` (or `python3 -c CODE ARGS...`) from there on.
import json
import os
import resource
import sys


def _order():
    os.write(4, b"1")  # loaded: the sandbox may now be handed out
    os.close(4)
    chunks = []
    while True:
        chunk = os.read(3, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(3)
    return json.loads(b"".join(chunks))


def _main():
    order = _order()
    for res, soft, hard in order["rlimits"]:
        resource.setrlimit(res, (soft, hard))
    os.environ.clear()
    os.environ.update(order["env"])
    os.chdir(order["cwd"])
    argv = order["argv"]
    if len(argv) >= 3 and argv[1] == "-c":
        sys.argv = ["-c", *argv[3:]]
        sys.path[0] = ""
        return "<string>", argv[2]
    script = os.path.abspath(argv[1])  # as Python 3.9+ makes __file__ of the main script
    sys.argv = argv[1:]
    sys.path[0] = os.path.dirname(script)
    return script, None


_script, _code = _main()


def _excepthook(kind, value, tb, _default=sys.excepthook):
    # hide this zygote's own frames, as a plain `python3 script` would show none
    while tb is not None and tb.tb_frame.f_code.co_filename != _script:
        tb = tb.tb_next
    if isinstance(value, BaseException):
        value = value.with_traceback(tb)  # the default hook prints value.__traceback__
    _default(kind, value, tb)


sys.excepthook = _excepthook


def _run():
    # a fresh __main__ module, as the interpreter makes for `python3 SCRIPT`
    import types

    main = types.ModuleType("__main__")
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    if _code is not None:
        code = compile(_code, "<string>", "exec")
    else:
        from importlib.machinery import SourceFileLoader

        main.__file__ = _script
        main.__cached__ = None
        main.__loader__ = SourceFileLoader("__main__", _script)
        with open(_script, "rb") as f:
            code = compile(f.read(), _script, "exec")
    exec(code, main.__dict__)  # noqa: S102 - the sandbox's program


def _exit_code(exc):
    # what the interpreter does with SystemExit(code)
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


try:
    _run()
    _status = 0
except SystemExit as _exc:
    _status = _exit_code(_exc)
except KeyboardInterrupt:
    # the interpreter reports it, then dies of SIGINT so its parent knows
    sys.excepthook(*sys.exc_info())
    _status = -2
except BaseException:
    sys.excepthook(*sys.exc_info())
    _status = 1

# The interpreter's own shutdown (module teardown, final GC) is skipped: nothing a
# program can observe depends on it once threads are joined, atexit has run and the
# standard streams are flushed.
if "threading" in sys.modules:
    sys.modules["threading"]._shutdown()
import atexit  # noqa: E402

atexit._run_exitfuncs()
for _stream in (sys.stdout, sys.stderr):
    try:
        _stream.flush()
    except Exception:  # e.g. a closed pipe: as Python does, exit 120
        _status = _status or 120
if _status == -2:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
os._exit(_status)
