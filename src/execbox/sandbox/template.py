"""Template sandboxes: the program is forked from the template spawner, not from the init.

A template spawner runs the sandbox's interpreter with a module preloaded (the Python
zygote). For each warm sandbox it starts execbox's C init (``native/execbox_init.c``) as
pid 1 of a new pid namespace — posix_spawn, so nothing of the spawner is copied — and the
init builds and seals the sandbox and waits, reaping. When the backend writes the order
on the sandbox's order pipe, the spawner (which watches the pipe but never reads it: it
never holds a request's data) forks the *program* straight into the init's pid namespace;
the program joins the init's other namespaces and cgroup, drops to the sandbox user
exactly as an init does (bounding set, uid, capabilities, no_new_privs, seccomp), and only
then reads its order, writes its files and becomes the program. One fork of a warm
interpreter per run, and the init costs nothing in Python.

Safety of joining from outside: the program joins while nothing else runs in the
sandbox but its init (built fresh for this one run, max uses 1), and it is root only
until the namespaces are joined; the first thing read from the request is read as the
sandbox user, under seccomp.

The spawner is the program's parent, so the spawner reports its end: when the program
exits it kills the init (the kernel then kills every process of the namespace), and once
the init is reaped — nothing of the sandbox can write any more — it writes the EXIT frame
on the status pipe, as an init would. The program's CPU time and start are measured by
the program itself after its setup and passed back through a shared page it unmaps before
its own code runs.
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import marshal
import mmap
import os
import resource
import signal
import struct
import sys
import termios
import time
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NoReturn

from execbox.sandbox import launch, libc, mounts, protocol
from execbox.sandbox.child import RunOrder, memfd
from execbox.sandbox.spec import BOX_DIR, SandboxFile

_SHARED = struct.Struct("QQ")  # the program's CPU ns after its setup, its start (monotonic)


@dataclass(frozen=True, slots=True)
class TemplatePlan:
    """A template sandbox: its C init and plan, and how its program joins it."""

    init_binary: str
    init_plan: bytes  # native_init.encode(...)
    join_library: str  # native_init.library(): execbox_fork_program
    join_plan: bytes  # native_init.encode_join(...): cgroup, rlimits (the caps), user, seccomp
    target: str  # "module:function" of the spawner's interpreter: function(argv, env)


@dataclass(slots=True)
class _Box:
    plan: TemplatePlan
    init_pid: int
    init_pidfd: int
    stdout: int  # write ends, handed to the program
    stderr: int
    status: int
    control: int  # read end of the order pipe: watched, never read here
    program: int = 0
    shared: mmap.mmap | None = None
    ended: tuple[int, resource.struct_rusage] | None = None  # the program's wait status, rusage
    ended_at: int = 0
    fds: tuple[int, ...] = field(default=())


class TemplateBoxes:
    """Spawner side: the template sandboxes of one spawner, from init to EXIT frame."""

    def __init__(self, modules: Mapping[str, types.ModuleType]) -> None:
        self._modules = modules  # where the program's target function is found
        self._own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self._by_init: dict[int, _Box] = {}
        self._by_program: dict[int, _Box] = {}
        self._by_control: dict[int, _Box] = {}

    def watched(self) -> list[int]:
        """Order pipes with no program yet: readable means the order came (or EOF)."""
        return list(self._by_control)

    def pids(self) -> list[int]:
        return [*self._by_init, *self._by_program]

    def spawn(self, plan: TemplatePlan, fds: list[int]) -> int:
        """Start the C init of a new sandbox as pid 1 of a new pid namespace; its pid."""
        stdout, stderr, status, control = fds[:4]
        for fd in fds[4:]:
            os.close(fd)
        plan_fd = os.memfd_create("plan", os.MFD_CLOEXEC)
        try:
            os.write(plan_fd, plan.init_plan)
            os.lseek(plan_fd, 0, os.SEEK_SET)
            libc.unshare(libc.CLONE_NEWPID)
            try:
                pid = os.posix_spawn(
                    plan.init_binary, ["execbox-init"], {},
                    file_actions=[(os.POSIX_SPAWN_DUP2, status, 3),
                                  (os.POSIX_SPAWN_DUP2, plan_fd, 4)],
                    setsigmask=(), setsigdef=launch.ALL_SIGNALS)
            finally:
                libc.setns(self._own_pid_ns, libc.CLONE_NEWPID)
        except BaseException:
            for fd in fds[:4]:
                os.close(fd)
            raise
        finally:
            os.close(plan_fd)
        box = _Box(plan, pid, os.pidfd_open(pid), stdout, stderr, status, control)
        box.fds = (stdout, stderr, status, control, box.init_pidfd)
        self._by_init[pid] = box
        self._by_control[control] = box
        return pid

    def on_order(self, control: int) -> None:
        """The order pipe is readable: fork the program, or forget the pipe at EOF."""
        box = self._by_control.pop(control)
        waiting = struct.unpack("i", fcntl.ioctl(control, termios.FIONREAD, b"\0" * 4))[0]
        if waiting == 0:  # EOF: the backend discarded the box (and killed the init)
            return
        box.shared = mmap.mmap(-1, _SHARED.size, flags=mmap.MAP_SHARED)
        plan = box.plan
        pid = _join_library(plan.join_library).execbox_fork_program(
            box.init_pidfd, self._own_pid_ns, plan.join_plan, len(plan.join_plan),
            box.stdout, box.stderr, box.status, box.control)
        if pid == 0:  # in the sandbox, as its user, under seccomp (or it exited)
            try:
                _program(box, self._modules)
            finally:
                os._exit(125)  # never back into the spawner's loop
        if pid < 0:  # the init is gone already, or no fork
            _error(box.status, "join", OSError(-pid, os.strerror(-pid)))
            return
        box.program = pid
        self._by_program[pid] = box

    def on_reaped(self, pid: int, status: int, usage: resource.struct_rusage) -> None:
        box = self._by_program.pop(pid, None)
        if box is not None:  # the program ended: so does the sandbox
            box.ended, box.ended_at = (status, usage), time.monotonic_ns()
            try:
                signal.pidfd_send_signal(box.init_pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return
        box = self._by_init.pop(pid, None)
        if box is None:
            return
        self._by_control.pop(box.control, None)
        try:
            if box.ended is not None:  # every process of the sandbox is gone: report
                _report(box)
        finally:
            for fd in box.fds:
                os.close(fd)
            if box.shared is not None:
                box.shared.close()

    def close(self) -> None:
        os.close(self._own_pid_ns)


def _report(box: _Box) -> None:
    assert box.ended is not None and box.shared is not None
    status, usage = box.ended
    cpu_offset_ns, started_ns = _SHARED.unpack(box.shared[:_SHARED.size])
    cpu_ns = int((usage.ru_utime + usage.ru_stime) * 1e9)
    try:
        protocol.send(box.status, protocol.EXIT, {
            "wait_status": status,
            "cpu_ns": max(cpu_ns - cpu_offset_ns, 0),
            "maxrss_kb": usage.ru_maxrss,
            "wall_ns": max(box.ended_at - started_ns, 0) if started_ns else 0,
            "files": [],
            "cgroup_cpu": True,  # orphans reaped by the init: count the cgroup's CPU too
        })
    except OSError:  # the backend is gone
        pass


def _error(status_fd: int, stage: str, exc: BaseException) -> None:
    try:
        protocol.send(status_fd, protocol.ERROR, {
            "stage": stage, "errno": getattr(exc, "errno", None),
            "message": f"{type(exc).__name__}: {exc}"})
    except OSError:
        pass


def encode_order(order: RunOrder) -> bytes:
    """Backend side: a template sandbox's order, as plain data (marshal: the program
    decodes it with no import machinery and no classes, each of which would cost it
    copied pages). Only what such a sandbox runs: no files collected, no terminal."""
    if order.collect or order.interactive or order.pty is not None:
        raise ValueError("a template sandbox runs plain orders only")
    return marshal.dumps((
        order.argv, order.env, tuple((f.name, f.content, f.executable) for f in order.files),
        tuple((r.resource, r.soft, r.hard) for r in order.rlimits), order.stdin))


def _program(box: _Box, modules: Mapping[str, types.ModuleType]) -> NoReturn:
    """In the fork, joined and sealed already: take the order, become the program."""
    stage = "order"
    try:
        signal.set_wakeup_fd(-1)  # the spawner's pipe is closed
        argv, env, files, limits, stdin_bytes = marshal.loads(  # noqa: S302 - the backend's
            protocol.read_blob(box.control))
        os.close(box.control)
        stage = "files"
        mounts.write_files(BOX_DIR, tuple(SandboxFile(*f) for f in files))
        stdin = memfd(stdin_bytes)
        os.chdir(BOX_DIR)
        module_name, _, function_name = box.plan.target.partition(":")
        function = getattr(modules[module_name], function_name)
        assert box.shared is not None
        _SHARED.pack_into(box.shared, 0, time.clock_gettime_ns(time.CLOCK_PROCESS_CPUTIME_ID),
                          time.monotonic_ns())
        box.shared.close()  # the program cannot reach it: no forged times
        protocol.send_frame(box.status, protocol.STARTED,
                            b'{"pid": %d, "marks": []}' % os.getpid())
        stage = "program"
        _become_program((stdin, box.stdout, box.stderr), limits)
        if "random" in sys.modules:  # what os.fork's handler does: no two runs alike
            sys.modules["random"].seed()
        gc.freeze()  # the inherited objects: never scanned, so never copied
        gc.enable()
        function(list(argv), dict(env))
    except BaseException as exc:
        if stage != "program":
            _error(box.status, stage, exc)
    finally:
        os._exit(125)


def _become_program(stdio: tuple[int, int, int],
                    limits: tuple[tuple[int, int, int], ...]) -> None:
    """What starting the interpreter would have given the program: its own session, stdio
    on fds 0-2 and nothing else, the signal dispositions of a fresh interpreter (the
    spawner's only own handler, SIGCHLD's, reset), an empty mask, the order's rlimits."""
    os.setsid()
    for target_fd, fd in enumerate(stdio):
        os.dup2(fd, target_fd)
    os.closerange(3, 1 << 20)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    for resource_, soft, hard in limits:
        resource.setrlimit(resource_, (soft, hard))


_libraries: dict[str, ctypes.PyDLL] = {}


def _join_library(path: str) -> ctypes.PyDLL:
    """execbox_fork_program, loaded once. PyDLL: called with the GIL held, so the child
    returns into the interpreter holding it (one thread: nothing else to re-initialise)."""
    lib = _libraries.get(path)
    if lib is None:
        lib = ctypes.PyDLL(path)
        lib.execbox_fork_program.restype = ctypes.c_int
        lib.execbox_fork_program.argtypes = (
            ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t,
            ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int)
        _libraries[path] = lib
    return lib
