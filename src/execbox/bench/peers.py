"""The tools a user would otherwise pick, run side by side with execbox (argv lists only).

* **bubblewrap** with the flags closest to execbox's layers: every namespace
  (``--unshare-all``), a read-only root of the same runtime paths (``--ro-bind /usr``...,
  the same top-level symlinks, ``/usr/local`` masked), tmpfs ``/tmp`` and work dir, a
  minimal ``/dev``, a fresh ``/proc``, the program's files copied in (``--file``), a clean
  environment, ``--die-with-parent``, ``--new-session``, ``--cap-drop ALL`` and
  execbox's own seccomp program (``--seccomp``, a fresh descriptor per run: bwrap
  consumes it). It has no cgroup and no rlimits, and started by root it keeps uid 0.
* **unshare + cgroup**: what a short script does: the benchmark makes a per-run cgroup
  (mkdir, memory and pids limits; removed after), a fixed shell script joins it
  (``echo $$ > tasks``) and execs util-linux ``unshare --pid --fork --mount-proc --net
  --ipc --uts --cgroup``. The script is a constant file run as ``/bin/sh SCRIPT FILES...
  -- ARGV...``: nothing is ever interpolated into shell text.
* **gVisor** (``runsc do``, ptrace platform, no network) when ``runsc`` is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from execbox.bench.levels import MIB, LadderContext, Level
from execbox.bench.programs import Program
from execbox.sandbox.spec import BOX_DIR, SandboxSettings

_TOP_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")

UNSHARE_SCRIPT = """\
#!/bin/sh
# usage: SCRIPT CGROUP_FILE... -- PROGRAM [ARG...]
# Join the cgroup the caller made (one file per hierarchy), then run PROGRAM as pid 1 of
# fresh pid, mount (with its own /proc), network, ipc, uts and cgroup namespaces.
set -eu
while [ "$1" != "--" ]; do
    echo $$ > "$1"
    shift
done
shift
exec unshare --pid --fork --kill-child --mount-proc --net --ipc --uts --cgroup -- "$@"
"""


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)  # inheritable by design: passed to bwrap with pass_fds
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class Bubblewrap(Level):
    name = "bwrap"
    label = "bubblewrap (--unshare-all, ro root, seccomp)"
    kind = "peer"

    def __init__(self, settings: SandboxSettings, seccomp_bpf: bytes,
                 path: str | None = None) -> None:
        self._bwrap = path or shutil.which("bwrap")
        self._settings = settings
        self._bpf = seccomp_bpf

    def unavailable(self, program: Program) -> str | None:
        if self._bwrap is None:
            return "absent: bwrap not installed (Debian package bubblewrap)"
        return None

    def argv(self, program: Program, file_fds: list[tuple[int, str, bool]],
             seccomp_fd: int) -> list[str]:
        assert self._bwrap is not None
        s = self._settings
        argv = [self._bwrap, "--unshare-all", "--die-with-parent", "--new-session",
                "--cap-drop", "ALL", "--hostname", s.hostname, "--clearenv"]
        for key, value in program.full_env.items():
            argv += ["--setenv", key, value]
        for name in _TOP_LINKS:
            host = "/" + name
            if os.path.islink(host):
                argv += ["--symlink", os.readlink(host), host]
            elif os.path.isdir(host):
                argv += ["--ro-bind", host, host]
        for m in s.runtime_mounts + program.mounts:
            argv += ["--ro-bind-try" if m.optional else "--ro-bind", m.source, m.target]
        for masked in s.masked_paths:
            if os.path.isdir(masked):
                argv += ["--tmpfs", masked, "--remount-ro", masked]
        argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", BOX_DIR]
        for fd, name, executable in file_fds:
            argv += ["--perms", "0755" if executable else "0644", "--file", str(fd),
                     f"{BOX_DIR}/{name}"]
        argv += ["--chdir", BOX_DIR, "--seccomp", str(seccomp_fd), "--", *program.argv]
        return argv

    def run(self, program: Program, lane: int) -> str | None:
        fds: list[int] = []
        try:
            files = []
            for f in program.files:
                fds.append(_memfd(f.name, f.content))
                files.append((fds[-1], f.name, f.executable))
            fds.append(_memfd("seccomp", self._bpf))
            done = subprocess.run(self.argv(program, files, fds[-1]), pass_fds=fds, env={},
                                  stdin=subprocess.DEVNULL, capture_output=True, check=False)
        finally:
            for fd in fds:
                os.close(fd)
        return program.check(done.returncode, done.stdout, done.stderr)


class UnshareCgroup(Level):
    name = "unshare"
    label = "unshare + cgroup script"
    kind = "peer"

    def __init__(self, ctx: LadderContext, script_path: str,
                 unshare: str | None = None) -> None:
        self._ctx = ctx
        self._unshare = unshare or shutil.which("unshare")
        self._script = script_path
        if self._unshare is not None:
            fd = os.open(script_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW,
                         0o755)
            with os.fdopen(fd, "w") as f:
                f.write(UNSHARE_SCRIPT)

    def unavailable(self, program: Program) -> str | None:
        if self._unshare is None:
            return "absent: unshare not installed (Debian package util-linux)"
        return None

    def run(self, program: Program, lane: int) -> str | None:
        slot = self._ctx.slots.acquire()
        try:
            cgroup = self._ctx.cgroups.create(slot.name)
            try:
                cgroup.set_limits(program.limits.memory_mb * MIB, program.limits.processes + 1)
                done = subprocess.run(
                    ["/bin/sh", self._script, *cgroup.enter_files(), "--", *program.argv],
                    cwd=program.host_dir, env=program.full_env, stdin=subprocess.DEVNULL,
                    capture_output=True, check=False)
            finally:
                cgroup.remove()
        finally:
            self._ctx.slots.release(slot)
        return program.check(done.returncode, done.stdout, done.stderr)


class Gvisor(Level):
    name = "gvisor"
    label = "gVisor (runsc do, ptrace platform)"
    kind = "stronger"

    def __init__(self, path: str | None = None) -> None:
        self._runsc = path or shutil.which("runsc")

    def unavailable(self, program: Program) -> str | None:
        if self._runsc is None:
            return "absent: runsc not installed (gVisor is not packaged for Debian 12)"
        return None

    def run(self, program: Program, lane: int) -> str | None:
        assert self._runsc is not None
        done = subprocess.run([self._runsc, "--network=none", "--platform=ptrace", "do",
                               "--", *program.argv],
                              cwd=program.host_dir, env=program.full_env,
                              stdin=subprocess.DEVNULL, capture_output=True, check=False)
        return program.check(done.returncode, done.stdout, done.stderr)
