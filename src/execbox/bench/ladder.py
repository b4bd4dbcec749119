"""The partial isolation levels: execbox's layer modules composed one at a time.

Each rung adds one layer to the one before, in the order the sandbox's init applies them
(``execbox.sandbox.child.prepare``): enter the cgroup → unshare the namespaces → build
the read-only root and pivot into it → rlimits → drop to an unprivileged uid with no
capabilities → seccomp → write the files → exec. The child side below calls the same
functions as the real init (``namespaces.unshare_rest``, ``mounts.build``/``pivot``,
``rlimits.apply``, ``capabilities``, ``users.become``, ``seccomp.load``) in a child forked
by a small helper process (``forker``), then execs the program directly: no supervisor,
no status pipe, no init between it and the program. The difference between the last rung
and the full cold sandbox is what the product adds around the layers.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from typing import NoReturn

from execbox.sandbox import boxfiles, capabilities, libc, mounts, namespaces, rlimits, users
from execbox.sandbox.spec import BOX_DIR, SandboxFile


@dataclass(frozen=True, slots=True)
class Layers:
    rlimits: bool = False
    namespaces: bool = False  # pid (the program is pid 1 of it), mount, net, ipc, uts, cgroup
    mounts: bool = False  # the read-only root of runtime files, /box /tmp tmpfs, /dev, /proc
    user: bool = False  # a slot's unique uid, bounding set dropped, caps cleared, no_new_privs
    seccomp: bool = False  # execbox's deny-list filter
    cgroup: bool = False  # a per-run cgroup: memory + pids limits, CPU accounting


@dataclass(frozen=True, slots=True)
class Rung:
    name: str
    label: str
    layers: Layers


_R = Layers(rlimits=True)
_N = Layers(rlimits=True, namespaces=True)
_M = Layers(rlimits=True, namespaces=True, mounts=True)
_U = Layers(rlimits=True, namespaces=True, mounts=True, user=True)
_S = Layers(rlimits=True, namespaces=True, mounts=True, user=True, seccomp=True)
_C = Layers(rlimits=True, namespaces=True, mounts=True, user=True, seccomp=True, cgroup=True)

RUNGS: tuple[Rung, ...] = (
    Rung("fork", "fork+exec by a helper, no layer", Layers()),
    Rung("rlimits", "rlimits only", _R),
    Rung("namespaces", "+ namespaces (pid mnt net ipc uts cgroup)", _N),
    Rung("root", "+ read-only root and mounts", _M),
    Rung("user", "+ unprivileged uid, no capabilities", _U),
    Rung("seccomp", "+ seccomp", _S),
    Rung("cgroup", "+ cgroup (all layers, no supervisor)", _C),
)


@dataclass(frozen=True, slots=True)
class LadderPlan:
    """One run at one rung: everything the child needs, computed before the fork."""

    layers: Layers
    argv: tuple[str, ...]
    env: dict[str, str]
    host_dir: str  # the work dir when there is no root of its own
    files: tuple[SandboxFile, ...]  # written into /box when there is
    rlimits: tuple[rlimits.Rlimit, ...] = ()
    root: mounts.RootPlan | None = None
    last_cap: int = 0
    hostname: str = "execbox"
    seccomp_bpf: bytes = b""
    cgroup_enter_files: tuple[str, ...] = ()


def child_main(plan: LadderPlan, stdio: tuple[int, int, int]) -> NoReturn:
    """In the forked child: apply the plan's layers in the init's order, then exec."""
    try:
        layers = plan.layers
        libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
        if layers.cgroup:
            for path in plan.cgroup_enter_files:  # "0": this thread only, no v1 stall
                fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, b"0")
                finally:
                    os.close(fd)
        if layers.namespaces:
            namespaces.unshare_rest()
            libc.sethostname(plan.hostname)
        cwd = plan.host_dir
        if layers.mounts:
            if plan.root is None:
                raise ValueError("the mounts layer needs a root plan")
            mounts.build(plan.root)
            mounts.pivot(plan.root)
            cwd = BOX_DIR
        if layers.rlimits:
            rlimits.apply(plan.rlimits)
        if layers.user:
            if plan.root is None:
                raise ValueError("the user layer needs the uid of a root plan")
            capabilities.drop_bounding(plan.last_cap)
            users.become(plan.root.uid, plan.root.gid)
            capabilities.clear()
        if layers.seccomp:
            libc.seccomp_load_bpf(plan.seccomp_bpf)  # as the init does: no pyseccomp here
        if layers.mounts:
            boxfiles.write_files(BOX_DIR, ((f.name, f.content, f.executable)
                                           for f in plan.files))
        os.chdir(cwd)
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
        os.closerange(3, 1 << 20)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):  # Python's, not the program's
            signal.signal(sig, signal.SIG_DFL)
        os.execve(plan.argv[0], list(plan.argv), plan.env)  # noqa: S606 - an argv, no shell
    except BaseException as exc:
        message = f"ladder child: {type(exc).__name__}: {exc}\n".encode()
        for fd in (stdio[2], 2):  # the stderr pipe, or fd 2 once it has been dup'ed there
            try:
                os.write(fd, message)
                break
            except OSError:
                continue
        os._exit(127)
