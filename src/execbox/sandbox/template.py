"""Template sandboxes: the program is forked from a template spawner, not from the init.

A template spawner is a small process of the sandbox's interpreter (Debian's python3) with
one zygote loaded (``languages/zygotes/python_zygote.py``). For each warm sandbox it has
execbox's C init (``native/execbox_init.c``) forked as pid 1 of a new pid namespace — by the
init's own --forker process, started once (template_procs.Forker): nothing of the spawner
is copied — and the init builds and seals the sandbox and reaps. Once the init is READY,
the backend *arms* the sandbox: the spawner's program server (template_procs.ProgramForks,
a fork of the spawner made before it served anything, looping in C) forks the *program*
straight into the init's pid namespace (``execbox_fork_program``): the child joins the
init's other namespaces and cgroup and drops to the sandbox user exactly as the init did
(bounding set, uid, capabilities, no_new_privs, seccomp) before any Python code of its own
runs; only then does it wait for its order (on a pipe only it reads: the spawner never
holds a request's data), write its files and become the program. One fork of a warm
interpreter per run, and no Python in the init.

Why this module imports nearly nothing: every page of the spawner a program writes to is
copied (copy-on-write), and every page it maps is copied into and torn out of each fork's
page tables. The spawner is started from this file alone (``command``), loads the zygote
by path (no ``execbox.languages``), and takes execbox's modules out of ``sys.modules`` (a
program cannot ``import execbox``, as in a plain interpreter). It speaks ``marshal`` with
the backend, and writes its frames on the status pipe by hand (no json, pickle or re).

Safety of joining from outside: the program joins while nothing runs in the sandbox but
its init (built for this one run), it is root only until the namespaces are joined
and sealed, and the first thing it reads of the request it reads as the sandbox user,
under seccomp.

The program is forked by a short-lived vfork child of the program server inside the init's
pid namespace, which exits at once: the init adopts the program, so it is the program's parent
as in every other sandbox (``getppid()`` is 1). Once sealed, the program tells the init
its pid and the CPU time its setup took (the report pipe), and from then on the init does
what a cold sandbox's does: reap until the program exits, kill the rest, report EXIT.

Backend side (in the server): ``command`` (how to start a template spawner),
``encode_plan`` (a sandbox to build) and ``encode_order`` (what to run in it).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal without its enums
import _socket
import ctypes
import gc
import marshal
import os
import resource
import select
import struct
import sys
import time

from execbox.sandbox.boxfiles import BOX_DIR, memfd, write_files
from execbox.sandbox.template_procs import Forker, ProgramForks, recv_fds, send_fds
from execbox.sandbox.wire import LENGTH, drain, read_blob, recv_exact, send_frame

TYPE_CHECKING = False  # not typing's: importing typing would cost every fork ~1 MiB
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn

    from execbox.sandbox.child import RunOrder

    Program = Callable[[list[str], dict[str, str]], None]  # a zygote's run(argv, env)
    Prepare = Callable[[], None] | None  # its prepare(), if any

_REPORT = struct.Struct("=iIQ")  # to the init: the program's pid, pad, CPU ns of its setup
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         "from execbox.sandbox.template import main; main()")


# ---- backend side ----

def command(interpreter: str, src: str, zygote: str, function: str, library: str
            ) -> list[str]:
    """argv of a template spawner: ``interpreter`` with ``function`` of the zygote file
    ``zygote`` loaded, forking with ``library`` (native_init.library). The spawner socket
    is passed as ``{fd}`` (Spawner fills it in). Default flags: programs see them."""
    return [interpreter, "-c", _BOOT, src, "{fd}", zygote, function, library]


def encode_plan(init_binary: str, plan: bytes, recycle_net: bool = True) -> bytes:
    """A template sandbox to build: its C init and plan (native_init.encode), which its
    program also joins it by. ``recycle_net``: its network namespace comes from the
    spawner's pool (lent to one sandbox at a time) instead of being made new."""
    return marshal.dumps(("build", init_binary, plan, recycle_net))


def encode_arm(init_pid: int) -> bytes:
    """The sandbox of ``init_pid`` is sealed (its init said READY): fork its program now,
    ahead of the order, which the program will wait for (no answer)."""
    return marshal.dumps(("arm", init_pid))


def encode_order(order: RunOrder) -> bytes:
    """A template sandbox's order, as plain data the program decodes without imports.
    Only what such a sandbox runs: no files collected, no terminal."""
    if order.collect or order.interactive or order.pty is not None:
        raise ValueError("a template sandbox runs plain orders only")
    return marshal.dumps((
        order.argv, order.env, tuple((f.name, f.content, f.executable) for f in order.files),
        tuple((r.resource, r.soft, r.hard) for r in order.rlimits), order.stdin))


# ---- the template spawner ----

def main() -> None:
    """``python3 -c BOOT SRC FD ZYGOTE FUNCTION LIBRARY``: serve the backend on FD."""
    src, fd, zygote, function, library = sys.argv[1:6]
    if sys.path and sys.path[0] == src:
        del sys.path[0]
    for name in [n for n in sys.modules if n == "execbox" or n.startswith("execbox.")]:
        del sys.modules[name]  # the functions keep their globals
    target, prepare = _load(zygote, function)
    gc.collect()
    gc.freeze()  # what is here now is never scanned again, so never written by the GC
    _serve(_socket.socket(fileno=int(fd)), _Native(library), target, prepare)


def _load(path: str, function: str) -> tuple[Program, Prepare]:
    """The zygote's ``function`` (run the program) and its ``prepare`` if it has one
    (called in each forked program before its order: see python_zygote.prepare)."""
    module = type(sys)("__execbox_zygote__")
    module.__file__ = path
    with open(path, "rb") as f:
        exec(compile(f.read(), path, "exec"), module.__dict__)  # noqa: S102 - our own file
    run: Program = getattr(module, function)
    return run, getattr(module, "prepare", None)


class _Native:
    """execbox_new_netns and execbox_fork_loop. PyDLL: called with the GIL held, so a
    forked child returns into the interpreter holding it (one thread, nothing else to
    re-initialise: CPython's own at-fork work would write to ~200 more pages)."""

    def __init__(self, path: str) -> None:
        lib = ctypes.PyDLL(path)
        self.new_netns = lib.execbox_new_netns
        self.new_netns.restype = ctypes.c_int
        self.new_netns.argtypes = ()
        self.fork_loop = lib.execbox_fork_loop
        self.fork_loop.restype = ctypes.c_int
        self.fork_loop.argtypes = (ctypes.c_int, ctypes.POINTER(ctypes.c_int))


class _Box:
    __slots__ = ("control", "init_pid", "init_pidfd", "net", "plan", "report", "status",
                 "stderr", "stdout")

    def __init__(self, plan: bytes, fds: list[int], report: int, net: int) -> None:
        self.plan = plan
        self.stdout, self.stderr, self.status, self.control = fds  # write ends; order read end
        self.report = report  # write end of the report pipe (the init reads the other)
        self.init_pid = 0
        self.init_pidfd = -1
        self.net = net  # its network namespace, lent from the pool (-1: a new one, its own)

    def close(self) -> None:
        for name in ("stdout", "stderr", "status", "control", "report", "init_pidfd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)


def _serve(sock: _socket.socket, native: _Native, target: Program, prepare: Prepare) -> None:
    """Answer the backend (build a sandbox; arm it: fork its program) until the backend
    goes away; then kill every sandbox."""
    inits: dict[int, _Box] = {}
    nets = _Nets(native)
    forker = Forker()
    forks = ProgramForks(native.fork_loop,
                         lambda status, control, report: _program(status, control, report,
                                                                  target, prepare))
    forks.start()  # before this process has a signal handler or wake-up pipe
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    _signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    _signal.signal(_signal.SIGCHLD, lambda *_: None)
    while True:
        ready, _, _ = select.select([sock, wake_r], [], [], 5)
        if wake_r in ready:
            drain(wake_r)
        _reap(inits, nets, forker, forks)
        if sock not in ready:
            continue
        try:
            head, fds = recv_fds(sock, LENGTH.size, 4)
            head += recv_exact(sock, LENGTH.size - len(head)) if head else b""
        except OSError:
            head = b""
        if not head:  # the backend is gone (closed, or killed): take every sandbox down
            for pid in inits:
                os.kill(pid, _signal.SIGKILL)  # not reaped yet: still ours
            forker.close()
            forks.close()
            return
        (size,) = LENGTH.unpack(head)
        kind, *args = marshal.loads(recv_exact(sock, size))  # noqa: S302 - the backend's
        if kind == "arm":
            box = inits.get(args[0])
            if box is not None and box.stdout >= 0:
                if not forks.fork(box.plan, [box.init_pidfd, box.stdout, box.stderr,
                                             box.status, box.control, box.report]):
                    _frame(box.status, b"E", b'{"stage": "join", "errno": 0, "message": '
                           b'"the program fork server is gone"}')
                box.close()  # the server has its copies; the init is reaped later
            continue
        init_binary, plan, recycle_net = args
        built = _spawn_init(fds, plan, forker, init_binary, nets if recycle_net else None)
        if built is not None:
            inits[built.init_pid] = built
        pid = built.init_pid if built is not None else 0
        pidfd = os.pidfd_open(pid) if pid else -1
        try:
            send_fds(sock, LENGTH.pack(pid), [pidfd] if pid else [])
        finally:
            if pidfd >= 0:
                os.close(pidfd)


def _spawn_init(fds: list[int], plan: bytes, forker: Forker, binary: str,
                nets: _Nets | None) -> _Box | None:
    """Start a sandbox's init (in a network namespace from ``nets``, else a new one); its
    box, or None (and the descriptors closed)."""
    net = nets.lend() if nets is not None else -1
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    box = _Box(plan, fds, report_w, net)
    plan_fd = os.memfd_create("plan", os.MFD_CLOEXEC)
    try:
        os.write(plan_fd, plan)
        os.lseek(plan_fd, 0, os.SEEK_SET)
        fds_for_init = [box.status, plan_fd, report_r] + ([net] if net >= 0 else [])
        pid = forker.fork_init(binary, fds_for_init)
    finally:
        os.close(plan_fd)
        os.close(report_r)
    if pid <= 0:
        box.close()
        if nets is not None:
            nets.give_back(net)  # no process of the sandbox ever ran
        return None
    box.init_pid = pid
    box.init_pidfd = os.pidfd_open(pid)  # not reaped yet (only _reap does): it is the init
    return box


class _Nets:
    """The network namespaces of this spawner's sandboxes, each lent to one at a time.

    A new network namespace costs this kernel ~0.6 ms to make and ~0.4 ms more to tear
    down (in a kernel thread): about an eighth of a template run's whole CPU. So they are
    kept. One goes back to the pool only when the init of the sandbox that had it has been
    reaped: the kernel ends every process of a pid namespace before its init's exit is
    reported, so by then each socket any of them had is closed. Its loopback is down and
    stays down (no process in it ever has CAP_NET_ADMIN but the init, which runs only
    execbox's code): no connection could be made, so none lingers either. What does carry
    from one sandbox to the next is the kernel's per-namespace packet counters
    (/proc/net/snmp): a few numbers, as host-wide ones (/proc/stat) are visible anyway.
    Returned ones are lent last (first in, first out); at most ``KEEP`` wait."""

    KEEP = 64  # at most this many wait to be lent again

    def __init__(self, native: _Native) -> None:
        self._native = native
        self._free: list[int] = []

    def lend(self) -> int:
        """A namespace nobody uses: a returned one, else a new one (-1 if none can be
        made: the init then makes its own)."""
        if self._free:
            return self._free.pop(0)
        fd: int = self._native.new_netns()
        return fd if fd >= 0 else -1

    def give_back(self, fd: int) -> None:
        if fd < 0:
            return
        if len(self._free) < self.KEEP:
            self._free.append(fd)
        else:  # a burst is over: the namespace goes (the kernel tears it down)
            os.close(fd)


def _reap(inits: dict[int, _Box], nets: _Nets, forker: Forker, forks: ProgramForks) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if forker.lost(pid) or forks.lost(pid):  # the next request starts another
            continue
        box = inits.pop(pid, None)
        if box is not None:  # an init is gone: its sandbox with it (every process of it)
            box.close()
            nets.give_back(box.net)
            box.net = -1


# ---- the program (in the fork) ----

def _program(status: int, control: int, report: int, target: Program,
             prepare: Prepare) -> NoReturn:
    """Joined and sealed already, stdout and stderr on fds 1 and 2, /dev/null on 0:
    prepare, wait for the order (on ``control``), tell the init (``report``), become the
    program; frames on ``status``."""
    stage = "prepare"
    try:
        _signal.set_wakeup_fd(-1)  # the spawner's pipe is closed
        if prepare is not None:
            prepare()
        _frame(status, b"A", b"{}")  # armed: the backend hands the sandbox out
        stage = "order"
        argv, env, files, limits, stdin_bytes = marshal.loads(  # noqa: S302 - the backend's
            read_blob(control))
        os.close(control)
        stage = "files"
        write_files(BOX_DIR, files)
        stdin = memfd(stdin_bytes)
        os.dup2(stdin, 0)
        os.close(stdin)
        os.chdir(BOX_DIR)
        # the init waits for this pid and counts the program's CPU time from here
        os.write(report, _REPORT.pack(os.getpid(), 0,
                                          time.clock_gettime_ns(time.CLOCK_PROCESS_CPUTIME_ID)))
        _frame(status, b"S", b'{"pid": %d, "marks": []}' % os.getpid())
        stage = "program"
        _become_program(limits)
        if "random" in sys.modules:  # what os.fork's handler does: no two runs alike
            sys.modules["random"].seed()
        gc.enable()  # the inherited objects are frozen: never scanned, so never copied
        target(list(argv), dict(env))
    except BaseException as exc:
        if stage != "program":
            _frame(status, b"E", b'{"stage": "%s", "errno": %d, "message": %s}'
                   % (stage.encode(), getattr(exc, "errno", None) or 0,
                      _json_str(f"{type(exc).__name__}: {exc}")))
    finally:
        os._exit(125)


def _become_program(limits: tuple[tuple[int, int, int], ...]) -> None:
    """What starting the interpreter would have given the program: its own session, stdio
    on fds 0-2 and nothing else, the signal dispositions of a fresh interpreter (the
    spawner's only own handler, SIGCHLD's, reset), an empty mask, the order's rlimits."""
    os.setsid()
    os.closerange(3, 1 << 20)
    _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, ())
    for which, soft, hard in limits:
        resource.setrlimit(which, (soft, hard))


# ---- small helpers ----

def _frame(fd: int, kind: bytes, body: bytes) -> None:
    try:
        send_frame(fd, kind, body)
    except OSError:  # the backend is gone
        pass


def _json_str(text: str) -> bytes:
    """A JSON string literal of ``text`` (every character outside printable ASCII, and
    the two JSON reserves, escaped): the json module is not imported here."""
    return ('"' + "".join(c if " " <= c <= "~" and c not in '"\\' else
                          f"\\u{ord(c):04x}" if ord(c) < 0x10000 else "?" for c in text)
            + '"').encode()
