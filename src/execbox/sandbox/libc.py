"""The few libc calls Python 3.11 does not expose (unshare, setns, mount, pivot_root, prctl...).

Hand-written because no maintained PyPI package wraps these namespace and mount syscalls
(python-prctl and friends cover prctl only); each wrapper raises OSError with errno on
failure, so callers read like the os module.
"""

from __future__ import annotations

import ctypes
import os

# the C library the interpreter itself runs on (dlopen(NULL)): no ctypes.util, which
# imports a dozen modules and may run ldconfig, in every process that forks sandboxes
_libc = ctypes.CDLL(None, use_errno=True)
# the same library called with the GIL held: fork_bare's child must return holding it
_libc_gil = ctypes.PyDLL(None, use_errno=True)

# clone / unshare flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# mount flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MNT_DETACH = 0x2

# prctl options
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_SECCOMP = 22
PR_GET_SECCOMP = 21
SECCOMP_MODE_FILTER = 2

_SYS_PIVOT_ROOT = 155  # x86_64
_SYS_CAPSET = 126  # x86_64
_SYS_CLOSE_RANGE = 436
CLOSE_RANGE_CLOEXEC = 4


def _check(result: int) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)))


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)))


def mount(source: str, target: str, fstype: str, flags: int = 0, data: str | None = None) -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data is not None else None,
        )
    )


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), ctypes.c_int(flags)))


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(_SYS_PIVOT_ROOT, new_root.encode(), put_old.encode()))


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(
        _libc.prctl(
            ctypes.c_int(option),
            ctypes.c_ulong(arg2),
            ctypes.c_ulong(arg3),
            ctypes.c_ulong(arg4),
            ctypes.c_ulong(arg5),
        )
    )


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, ctypes.c_size_t(len(raw))))


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def capset_clear() -> None:
    """Empty the effective, permitted and inheritable capability sets of this thread."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.syscall(_SYS_CAPSET, ctypes.byref(header), ctypes.byref(data)))


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def seccomp_load_bpf(program: bytes) -> None:
    """Install a classic-BPF seccomp filter (8 bytes per instruction) on this thread."""
    if len(program) % 8:
        raise ValueError("a BPF program is a whole number of 8-byte instructions")
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _check(
        _libc.prctl(
            ctypes.c_int(PR_SET_SECCOMP),
            ctypes.c_ulong(SECCOMP_MODE_FILTER),
            ctypes.byref(prog),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        )
    )


def close_range_cloexec(first: int) -> None:
    """Mark every descriptor >= first close-on-exec (Linux 5.11+)."""
    _check(_libc.syscall(_SYS_CLOSE_RANGE, ctypes.c_uint(first), ctypes.c_uint(0xFFFFFFFF),
                         ctypes.c_uint(CLOSE_RANGE_CLOEXEC)))


_IPC_RMID = 0


def shm_remove(shmid: int) -> None:
    """Remove a System V shared memory segment (ours: the same uid)."""
    _check(_libc.shmctl(ctypes.c_int(shmid), ctypes.c_int(_IPC_RMID), None))


def sem_remove(semid: int) -> None:
    _check(_libc.semctl(ctypes.c_int(semid), ctypes.c_int(0), ctypes.c_int(_IPC_RMID)))


def msg_remove(msqid: int) -> None:
    _check(_libc.msgctl(ctypes.c_int(msqid), ctypes.c_int(_IPC_RMID), None))


def fork_bare() -> int:
    """fork(2) as the C library does it, without CPython's at-fork work. For a
    single-threaded caller that needs a cheap child: ``os.fork`` re-initialises the
    interpreter's thread and lock state and runs every ``os.register_at_fork`` handler in
    the child, which writes to ~200 pages of a warm interpreter (each one copied: the
    child's biggest cost). With one thread nothing needs re-initialising; the caller must
    do what a handler it relies on would have (random's reseed: see template.py)."""
    return _check(_libc_gil.fork())
