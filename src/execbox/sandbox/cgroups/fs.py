"""Reading and writing cgroupfs files, with errors that name the path and the errno.

:class:`CgroupFs` holds the operations whose effect the kernel decides (mkdir populates
control files, a write may move or kill processes, rmdir refuses a busy group); tests put
a fake kernel in its place (:mod:`execbox.sandbox.cgroups.testing`). Plain reads need no
such seam: a fake tree is made of plain files.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from collections.abc import Callable

from execbox.errors import SandboxSetupError


class CgroupFs:
    """The kernel's side of cgroupfs. Every method raises OSError as the syscall does."""

    def mkdir(self, path: str) -> None:
        os.mkdir(path, 0o755)

    def rmdir(self, path: str) -> None:
        os.rmdir(path)

    def write(self, path: str, data: str) -> None:
        # No O_CREAT: a control file the kernel lacks must fail (ENOENT), never be created.
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)


def failure(action: str, path: str, err: OSError) -> SandboxSetupError:
    """A SandboxSetupError saying what was done to which path and what the kernel said."""
    name = errno.errorcode.get(err.errno or 0, str(err.errno))
    return SandboxSetupError(f"cannot {action} {path}: [{name}] {err.strerror}")


def read_text(path: str) -> str:
    # os-level: half the cost of open() here (~6 vs 11 us), and a run reads ~10 of these
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
        finally:
            os.close(fd)
    except OSError as e:
        raise failure("read", path, e) from e
    return b"".join(chunks).decode("ascii")


_CHUNK = 65536


class ControlFiles:
    """A group's statistics files kept open and read with ``pread`` from offset 0 (cgroupfs
    makes their text anew for each read from the start). A group kept for later sandboxes
    (leases.py) is read ~10 times a sandbox, and each ``open`` walks a long cgroupfs path:
    the open and close were most of what a read cost. Not for pid lists: cgroup v1 builds
    one per open file at its first read and serves that one to later reads. Safe from
    several threads (no file offset is shared); ``close`` before the group is removed."""

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}

    def read_text(self, path: str) -> str:
        fd = self._fds.get(path)
        if fd is None:
            try:
                opened = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                raise failure("read", path, e) from e
            fd = self._fds.setdefault(path, opened)
            if fd != opened:  # another thread opened it first
                os.close(opened)
        chunks: list[bytes] = []
        offset = 0
        try:
            while True:
                chunk = os.pread(fd, _CHUNK, offset)
                chunks.append(chunk)
                offset += len(chunk)
                # short: the end. A statistics file's text is one record, made whole at
                # the first read (not so a pid list's); a read past it, only to find the
                # end, made the text anew (a system call more per file, 7 a warm run)
                if len(chunk) < _CHUNK:
                    break
        except OSError as e:
            raise failure("read", path, e) from e
        return b"".join(chunks).decode("ascii")

    def close(self) -> None:
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)


def read_int(path: str, read: Callable[[str], str] = read_text) -> int:
    text = read(path).strip()
    try:
        return int(text)
    except ValueError:
        raise SandboxSetupError(f"{path} holds {text!r}, not a number") from None


def read_keyed(path: str, key: str, *, optional: bool = False,
               read: Callable[[str], str] = read_text) -> int:
    """The value of ``key`` in a flat keyed file ("key value" lines); 0 if ``optional`` and
    the file or the key is absent."""
    try:
        text = read(path)
    except SandboxSetupError:
        if optional and not os.path.exists(path):
            return 0
        raise
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            return int(parts[1])
    if optional:
        return 0
    raise SandboxSetupError(f"{path} has no {key!r} line")


def read_pids(path: str) -> list[int]:
    """The pids listed in ``path`` (cgroup.procs or tasks); [] if the group is gone."""
    try:
        with open(path, encoding="ascii") as f:
            return [int(line) for line in f.read().split()]
    except FileNotFoundError:
        return []
    except OSError as e:
        raise failure("read", path, e) from e


def write(fs: CgroupFs, path: str, data: str) -> None:
    try:
        fs.write(path, data)
    except OSError as e:
        raise failure(f"write {data!r} to", path, e) from e


def make_dir(fs: CgroupFs, path: str) -> None:
    try:
        fs.mkdir(path)
    except OSError as e:
        raise failure("create the cgroup", path, e) from e


def make_dirs(fs: CgroupFs, path: str) -> None:
    """mkdir -p through the kernel seam (each new level gets its control files)."""
    if os.path.isdir(path):
        return
    make_dirs(fs, os.path.dirname(path))
    try:
        fs.mkdir(path)
    except FileExistsError:
        pass
    except OSError as e:
        raise failure("create the cgroup", path, e) from e


def kill_pid(fs: CgroupFs, pid: int) -> None:
    try:
        fs.kill(pid)
    except ProcessLookupError:
        pass  # already gone
    except OSError as e:
        raise failure("SIGKILL pid", str(pid), e) from e


def wait_until(done: Callable[[], bool], timeout: float) -> bool:
    """Poll ``done`` (0.5 ms, doubling to 20 ms) until it is true or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
    return True


def kill_until_empty(
    where: str,
    list_pids: Callable[[], list[int]],
    kill: Callable[[list[int]], None],
    timeout: float,
) -> None:
    """Call ``kill`` on the listed pids until none is listed; SandboxSetupError after
    ``timeout`` seconds."""

    def empty() -> bool:
        pids = list_pids()
        if pids:
            kill(pids)
        return not pids

    if not wait_until(empty, timeout):
        raise SandboxSetupError(
            f"cgroup {where} still holds pids {list_pids()} after {timeout} s of SIGKILL"
        )


def remove_dir(fs: CgroupFs, path: str, timeout: float) -> None:
    """rmdir a cgroup, retrying while the kernel still says EBUSY; gone already is fine."""

    def removed() -> bool:
        try:
            fs.rmdir(path)
        except FileNotFoundError:
            return True
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise failure("remove the cgroup", path, e) from e
            return False
        return True

    if not wait_until(removed, timeout):
        raise SandboxSetupError(f"cannot remove the cgroup {path}: [EBUSY] for {timeout} s")


def check_name(name: str) -> str:
    """A sandbox group name: one path component, not a control-file name. ValueError if not."""
    if not name or name in (".", "..") or "/" in name or "\0" in name or "\n" in name:
        raise ValueError(f"bad cgroup name {name!r}: one path component expected")
    if name.startswith("cgroup.") or name in ("tasks", "notify_on_release", "release_agent"):
        raise ValueError(f"bad cgroup name {name!r}: the kernel uses it for a control file")
    return name


def child_dirs(parent: str) -> list[str]:
    """Names of the subdirectories (child groups) of ``parent``; [] if it does not exist."""
    try:
        with os.scandir(parent) as entries:
            return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise failure("list", parent, e) from e
