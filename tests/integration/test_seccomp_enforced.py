"""The default seccomp filter, loaded by the kernel in a forked child.

Each test forks a child that sets no_new_privs, loads the filter (``seccomp.load``, i.e.
``libc.seccomp_load_bpf``), attempts something and reports the result through a pipe, or
dies. The parent asserts. Loading a filter with no_new_privs needs no root; the few
"control" runs without the filter that prove the filter made the difference do.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import mmap
import os
import resource
import select
import signal
import socket
import statistics
import subprocess
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from execbox.sandbox import libc, seccomp

pytestmark = pytest.mark.root

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the control run needs root")

_c = ctypes.CDLL(None, use_errno=True)
_c.syscall.restype = ctypes.c_long

NR_PTRACE, NR_GETPPID, NR_CLONE, NR_PERSONALITY = 101, 110, 56, 135
NR_IO_URING_SETUP, NR_CLONE3 = 425, 435
X32_BIT = 0x40000000
SIGCHLD = int(signal.SIGCHLD)
TIOCLINUX = 0x541C
ADDR_NO_RANDOMIZE = 0x0040000


def syscall(number: int, *args: int) -> tuple[int, int]:
    """A raw syscall with full 64-bit arguments: (return value, errno)."""
    ctypes.set_errno(0)
    ret = _c.syscall(ctypes.c_long(number), *(ctypes.c_ulong(a) for a in args))
    return int(ret), ctypes.get_errno()


@dataclass
class Outcome:
    exit_code: int | None
    signal: int | None
    result: Any


def in_child(fn: Callable[[], Any], *, filtered: bool = True, timeout: float = 20.0,
             bpf: bytes | None = None) -> Outcome:
    """Fork; the child loads the filter (unless ``filtered`` is false), runs ``fn`` and
    sends its JSON result back. Never returns in the child."""
    program = bpf if bpf is not None else seccomp.compile_bpf(seccomp.default_policy())
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(r)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGSYS would dump core
            if filtered:
                libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
                seccomp.load(program)
            payload = json.dumps({"ok": fn()})
        except BaseException as exc:
            payload, code = json.dumps({"error": repr(exc)}), 70
        try:
            os.write(w, payload.encode())
        finally:
            os._exit(code)
    os.close(w)
    deadline = time.monotonic() + timeout
    chunks = []
    try:
        while select.select([r], [], [], max(0.0, deadline - time.monotonic()))[0]:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"child hung for {timeout}s")
            time.sleep(0.005)
    finally:
        os.close(r)
    status = done[1]
    data = json.loads(b"".join(chunks)) if chunks else {}
    assert "error" not in data, data["error"]
    return Outcome(os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                   os.WTERMSIG(status) if os.WIFSIGNALED(status) else None, data.get("ok"))


def ok(fn: Callable[[], Any], **kwargs: Any) -> Any:
    """Run fn in a filtered child that must exit normally; return its result."""
    out = in_child(fn, **kwargs)
    assert (out.exit_code, out.signal) == (0, None), out
    return out.result


def killed(fn: Callable[[], Any], **kwargs: Any) -> None:
    out = in_child(fn, **kwargs)
    assert out.signal == signal.SIGSYS, out
    assert signal.Signals(out.signal).name == seccomp.SIGSYS_MEANS_BLOCKED


def errno_of(call: Callable[[], object]) -> int:
    try:
        call()
    except OSError as exc:
        return exc.errno or -1
    return 0


# --- killed ------------------------------------------------------------------------

def test_ptrace_traceme_is_killed_by_sigsys() -> None:
    killed(lambda: _c.ptrace(0, 0, None, None))


def test_x32_ptrace_is_killed() -> None:
    killed(lambda: syscall(X32_BIT | NR_PTRACE, 0, 0, 0, 0))


def test_x32_harmless_syscall_is_killed_too() -> None:
    killed(lambda: syscall(X32_BIT | 39))  # x32 getpid: no x32 call gets through


_I386_GETPID = bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3])  # mov eax,20; int 0x80; ret


def _int80_getpid() -> int:
    page = mmap.mmap(-1, mmap.PAGESIZE,
                     prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(_I386_GETPID)
    func = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))
    return int(func())


def test_i386_syscall_through_int80_is_killed() -> None:
    control = in_child(lambda: _int80_getpid() == os.getpid(), filtered=False)
    if control.result is not True:
        pytest.skip(f"no ia32 emulation on this kernel: {control}")
    killed(_int80_getpid)


def test_kill_takes_the_whole_process_not_just_the_thread() -> None:
    def ptrace_in_a_thread() -> str:
        t = threading.Thread(target=lambda: _c.ptrace(0, 0, None, None))
        t.start()
        t.join()
        return "survived"  # what SECCOMP_RET_KILL_THREAD would allow

    killed(ptrace_in_a_thread)


# --- refused with an errno ---------------------------------------------------------

def test_mount_gets_eperm() -> None:
    def mount() -> int:
        return errno_of(lambda: libc.mount("none", "/nonexistent/execbox", "tmpfs"))

    assert ok(mount) == errno.EPERM


@needs_root
def test_mount_control_without_filter_gets_past_the_permission_check() -> None:
    out = in_child(lambda: errno_of(
        lambda: libc.mount("none", "/nonexistent/execbox", "tmpfs")), filtered=False)
    assert out.result == errno.ENOENT


def test_umount_chroot_pivot_root_sethostname_get_eperm() -> None:
    def attempts() -> list[int]:
        return [errno_of(lambda: libc.umount2("/nonexistent/execbox")),
                errno_of(lambda: os.chroot("/nonexistent/execbox")),
                errno_of(lambda: libc.pivot_root("/nonexistent/a", "/nonexistent/b")),
                errno_of(lambda: libc.sethostname("execbox-test"))]

    assert ok(attempts) == [errno.EPERM] * 4


def test_unshare_newuser_gets_eperm() -> None:
    assert ok(lambda: errno_of(lambda: libc.unshare(libc.CLONE_NEWUSER))) == errno.EPERM


@needs_root
def test_unshare_newuser_control_without_filter_succeeds() -> None:
    out = in_child(lambda: errno_of(lambda: libc.unshare(libc.CLONE_NEWUSER)), filtered=False)
    assert out.result == 0


def test_setns_gets_eperm() -> None:
    def setns() -> int:
        fd = os.open("/proc/self/ns/uts", os.O_RDONLY)
        return errno_of(lambda: libc.setns(fd, libc.CLONE_NEWUTS))

    assert ok(setns) == errno.EPERM


def _raw_clone(flags: int) -> tuple[int, int]:
    """clone(flags, stack=0): a fork-like child, which exits at once with 7."""
    ret, err = syscall(NR_CLONE, flags, 0, 0, 0, 0)
    if ret == 0:
        os._exit(7)
    if ret > 0:
        return os.waitstatus_to_exitcode(os.waitpid(ret, 0)[1]), 0
    return ret, err


@pytest.mark.parametrize("flag", [libc.CLONE_NEWNS, libc.CLONE_NEWUSER, libc.CLONE_NEWNET,
                                  libc.CLONE_NEWPID])
def test_clone_with_a_namespace_flag_gets_eperm(flag: int) -> None:
    assert ok(lambda: _raw_clone(flag | SIGCHLD)) == [-1, errno.EPERM]


@needs_root
def test_clone_newns_control_without_filter_succeeds() -> None:
    assert in_child(lambda: _raw_clone(libc.CLONE_NEWNS | SIGCHLD),
                    filtered=False).result == [7, 0]


def test_clone_without_namespace_flags_works() -> None:
    assert ok(lambda: _raw_clone(SIGCHLD)) == [7, 0]


def test_clone3_gets_enosys() -> None:
    assert ok(lambda: syscall(NR_CLONE3, 0, 0)) == [-1, errno.ENOSYS]


def test_io_uring_setup_gets_enosys() -> None:
    def setup() -> tuple[int, int]:
        params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
        return syscall(NR_IO_URING_SETUP, 8, ctypes.addressof(params))

    assert ok(setup) == [-1, errno.ENOSYS]


def _pty_ioctls() -> dict[str, int]:
    _, slave = os.openpty()
    char = ctypes.c_char(b"x")
    return {
        "TIOCSTI": errno_of(lambda: fcntl.ioctl(slave, termios.TIOCSTI, b"x")),
        "TIOCSTI_high_bits": syscall(16, slave, (1 << 32) | termios.TIOCSTI,
                                     ctypes.addressof(char))[1],
        "TIOCLINUX": errno_of(lambda: fcntl.ioctl(slave, TIOCLINUX, b"\x00" * 8)),
        "TIOCGWINSZ": errno_of(lambda: fcntl.ioctl(slave, termios.TIOCGWINSZ, b"\x00" * 8)),
    }


def test_tiocsti_on_a_pty_gets_eperm() -> None:
    assert ok(_pty_ioctls) == {"TIOCSTI": errno.EPERM, "TIOCSTI_high_bits": errno.EPERM,
                               "TIOCLINUX": errno.EPERM, "TIOCGWINSZ": 0}


@needs_root
def test_tiocsti_control_without_filter_is_not_eperm() -> None:
    assert in_child(_pty_ioctls, filtered=False).result["TIOCSTI"] != errno.EPERM


def test_personality_query_works_and_changes_get_eperm() -> None:
    def attempts() -> dict[str, list[int]]:
        return {name: list(syscall(NR_PERSONALITY, persona)) for name, persona in [
            ("query", 0xFFFFFFFF), ("PER_LINUX", 0), ("no_aslr", ADDR_NO_RANDOMIZE),
            ("no_aslr_high_bits", (1 << 32) | ADDR_NO_RANDOMIZE), ("PER_LINUX32", 8)]}

    got = ok(attempts)
    assert got["query"][0] >= 0 and got["PER_LINUX"][0] >= 0
    assert got["no_aslr"] == got["no_aslr_high_bits"] == got["PER_LINUX32"] == [-1, errno.EPERM]


@pytest.mark.parametrize(("action", "expected"), [(seccomp.Action.EPERM, errno.EPERM),
                                                  (seccomp.Action.ENOSYS, errno.ENOSYS)])
def test_overrides_take_effect(action: seccomp.Action, expected: int) -> None:
    bpf = seccomp.compile_bpf(seccomp.default_policy().with_overrides({"getppid": action}))
    assert ok(lambda: syscall(NR_GETPPID), bpf=bpf) == [-1, expected]


def test_override_to_kill() -> None:
    bpf = seccomp.compile_bpf(
        seccomp.default_policy().with_overrides({"getppid": seccomp.Action.KILL}))
    killed(lambda: syscall(NR_GETPPID), bpf=bpf)


# --- ordinary programs keep working ------------------------------------------------

def test_fork_and_waitpid_work() -> None:
    def fork() -> int:
        pid = os.fork()
        if pid == 0:
            os._exit(3)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

    assert ok(fork) == 3


def test_threads_work() -> None:
    def thread() -> list[int]:
        seen: list[int] = []
        t = threading.Thread(target=lambda: seen.append(threading.get_native_id()))
        t.start()
        t.join()
        return [len(seen), int(seen[0] != threading.get_native_id())]

    assert ok(thread) == [1, 1]


def test_subprocess_run_works() -> None:
    assert ok(lambda: subprocess.run(["/bin/true"], check=False).returncode) == 0


def test_execv_python_with_socket_in_a_grandchild_works() -> None:
    def grandchild() -> list[Any]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.dup2(w, 1)
            os.execv("/usr/bin/python3",
                     ["python3", "-c", "import os, socket; print(1)"])
        os.close(w)
        with os.fdopen(r, "rb") as f:
            out = f.read().decode()
        return [out, os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])]

    assert ok(grandchild) == ["1\n", 0]


def test_sockets_signals_and_mmap_work() -> None:
    def everyday() -> list[int]:
        got: list[int] = []
        signal.signal(signal.SIGUSR1, lambda *_: got.append(1))
        os.kill(os.getpid(), signal.SIGUSR1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            got.append(int(s.fileno() >= 0))
        a, b = socket.socketpair()
        a.sendall(b"x")
        got.append(len(b.recv(1)))
        m = mmap.mmap(-1, 1 << 20)
        m[0:1] = b"y"
        got.append(int(m[0:1] == b"y"))
        return got

    assert ok(everyday) == [1, 1, 1, 1]


# --- measurements (reported, not asserted) -----------------------------------------

def test_measure_instructions_and_load_time(capsys: pytest.CaptureFixture[str]) -> None:
    policy = seccomp.default_policy()
    seccomp.compile_bpf.cache_clear()
    t0 = time.perf_counter()
    bpf = seccomp.compile_bpf(policy)
    compile_ms = (time.perf_counter() - t0) * 1e3

    def timed_load() -> int:
        libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
        start = time.perf_counter_ns()
        seccomp.load(bpf)
        return time.perf_counter_ns() - start

    samples = [ok(timed_load, filtered=False) for _ in range(50)]
    with capsys.disabled():
        print(f"\nseccomp default policy: {len(bpf) // 8} BPF instructions "
              f"({len(bpf)} bytes), compile {compile_ms:.2f} ms, load in a forked child: "
              f"median {statistics.median(samples) / 1e3:.1f} us, "
              f"p90 {sorted(samples)[44] / 1e3:.1f} us (50 runs)")
