"""What one sandboxed run is asked to do (SandboxSpec) and how a host's sandboxes are set up
(SandboxSettings). Both are plain data; validation happens here, before any fork."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from execbox.errors import ConfigError
from execbox.sandbox.boxfiles import BOX_DIR as BOX_DIR
from execbox.sandbox.cgroups import CgroupSettings
from execbox.types import Limits

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class BindMount:
    """A host path shown inside the sandbox. Sources come from server config, never users."""

    source: str
    target: str
    writable: bool = False
    optional: bool = False  # silently absent when the source does not exist on this host

    def __post_init__(self) -> None:
        for path in (self.source, self.target):
            if not os.path.isabs(path) or os.path.normpath(path) != path:
                raise ConfigError(f"bind mount paths must be absolute and normal: {path!r}")


@dataclass(frozen=True, slots=True)
class SandboxFile:
    """A file written into the work directory before the run (relative path, no ``..``)."""

    name: str
    content: bytes
    executable: bool = False

    def __post_init__(self) -> None:
        check_relative_path(self.name)


def check_relative_path(name: str) -> None:
    """Reject anything but a plain relative path that stays inside the work directory."""
    if not name or len(name) > 255 or "\x00" in name:
        raise ConfigError(f"bad file name: {name!r}")
    parts = name.split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ConfigError(f"file names must be relative paths inside the work dir: {name!r}")


class Stop:
    """A run's early end, asked from any thread (its caller went away): ``set`` once; the
    supervisor polls ``is_set``. A flag, not a ``threading.Event``: nothing waits on it,
    and the service makes one per request."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    """One program to run: argv, its inputs and its limits."""

    argv: tuple[str, ...]
    files: tuple[SandboxFile, ...] = ()
    stdin: bytes = b""
    env: Mapping[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    mounts: tuple[BindMount, ...] = ()  # extra read-only paths (a language's runtime)
    collect: tuple[str, ...] = ()  # work-dir files to bring back out (compiled artifacts)
    collect_max_bytes: int = 64 * 1024 * 1024
    # interactive: stdin is a pipe the caller writes to while the program runs (see
    # ``Interaction``), not the bytes above; pty: the program's stdio is a terminal inside
    # the sandbox (its own devpts), rows x cols, both streams arriving as stdout
    interactive: bool = False
    pty: tuple[int, int] | None = None
    # set from any thread: the run is killed (its caller went away; "ended by its
    # client"), within the supervisor's 10 ms poll. A run supervised on an event loop
    # (``execute_async``) ends with its awaiting task instead.
    stop: Stop | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.pty is not None and not self.interactive:
            raise ConfigError("a pty is only for interactive runs")
        if self.pty is not None and not all(0 < n <= 1000 for n in self.pty):
            raise ConfigError(f"terminal size must be 1-1000 rows and columns: {self.pty}")
        if not self.argv or any("\x00" in a for a in self.argv):
            raise ConfigError("argv must be a non-empty list of strings without NUL")
        for key, value in self.env.items():
            if not _ENV_NAME.match(key) or "\x00" in value:
                raise ConfigError(f"bad environment variable: {key!r}")
        for name in self.collect:  # wildcards allowed, matched in the work dir's top level
            check_relative_path(name)
        for key, amount in self.limits.as_dict().items():
            if amount <= 0:
                raise ConfigError(f"limit {key} must be positive, got {amount}")


def default_runtime_mounts() -> tuple[BindMount, ...]:
    """The host files every sandbox sees read-only: the OS userland a runtime links against."""
    return (
        BindMount("/usr", "/usr"),
        BindMount("/etc/ld.so.cache", "/etc/ld.so.cache", optional=True),
        BindMount("/etc/alternatives", "/etc/alternatives", optional=True),
    )


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """How this host builds sandboxes. Passed into the backend; never read from a global."""

    state_dir: str = "/run/execbox"  # the (empty) mount point of box roots, the cache...
    uid_base: int = 900_000  # slot n runs as uid and gid uid_base + n: unique among live boxes
    # one lock per uid, shared by every execbox of the host whatever its state dir: a uid
    # (and the cgroup named after it) belongs to one live sandbox at a time
    uid_lock_dir: str = "/run/execbox-uids"
    slots: int = 256  # most sandboxes alive at once on this host
    runtime_mounts: tuple[BindMount, ...] = field(default_factory=default_runtime_mounts)
    masked_paths: tuple[str, ...] = ("/usr/local",)  # hidden under an empty read-only tmpfs
    work_dir_mb: int = 64  # tmpfs size of /box (counted in the memory limit too)
    tmp_mb: int = 64  # tmpfs size of /tmp and /dev/shm
    inodes: int = 4096  # per tmpfs
    open_files: int = 256  # RLIMIT_NOFILE
    stack_mb: int = 0  # RLIMIT_STACK; 0 = as large as the memory limit
    hostname: str = "execbox"
    path_env: str = "/usr/bin:/bin"
    setup_timeout_ms: int = 5000  # building one sandbox may not take longer
    # template sandboxes take their network namespace from a pool, each lent to one live
    # sandbox at a time (template._Nets: what can and cannot carry over); False: a new one
    # per sandbox, as cold runs always have (about 1 ms more of the machine per run)
    recycle_netns: bool = True
    cgroup: CgroupSettings = field(default_factory=CgroupSettings)

    def __post_init__(self) -> None:
        if self.uid_base < 1000 or self.uid_base + self.slots >= 2**31:
            raise ConfigError("uid_base must leave room for non-root uids of every slot")
        if self.slots < 1:
            raise ConfigError("slots must be at least 1")
