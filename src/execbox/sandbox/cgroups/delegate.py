"""cgroup v2: hand the controllers down from the mount's root to execbox's parent group.

A controller reaches a group only if every ancestor lists it in ``cgroup.subtree_control``,
and a non-root group that holds processes cannot enable any there (the "no internal
processes" rule: EBUSY). When that group is the one this process lives in, this process
moves itself into a leaf ``<own>/execbox-supervisor`` and tries again, as go-judge does.
"""

from __future__ import annotations

import errno
import os
import posixpath
from collections.abc import Sequence

from execbox.errors import SandboxSetupError
from execbox.sandbox.cgroups.fs import (
    CgroupFs,
    failure,
    make_dirs,
    read_pids,
    read_text,
)
from execbox.sandbox.cgroups.mountinfo import Mount

SUPERVISOR = "execbox-supervisor"


def _chain(mount: Mount, path: str) -> list[str]:
    """The cgroup paths from the mount's root down to ``path``, both included."""
    paths = [path]
    while paths[-1] != mount.root and paths[-1] != "/":
        paths.append(posixpath.dirname(paths[-1]))
    return paths[::-1]


def _busy(directory: str, data: str) -> str:
    pids = read_pids(f"{directory}/cgroup.procs")
    return (
        f"cannot write {data!r} to {directory}/cgroup.subtree_control: [EBUSY] the group "
        f"holds processes {pids}, and a cgroup v2 group with processes cannot give "
        "controllers to child groups (the no-internal-processes rule); run execbox in a "
        "cgroup of its own (e.g. a systemd unit with Delegate=yes) or set the cgroup "
        "parent to an absolute path whose ancestors hold no processes"
    )


def _enable(fs: CgroupFs, directory: str, controllers: Sequence[str], own: bool) -> str | None:
    """Enable the controllers missing from one group's subtree_control; a problem or None."""
    subtree = f"{directory}/cgroup.subtree_control"
    enabled = read_text(subtree).split()
    data = " ".join(f"+{c}" for c in controllers if c not in enabled)
    if not data:
        return None
    try:
        fs.write(subtree, data)
        return None
    except OSError as e:
        if e.errno == errno.ENOENT:
            offered = read_text(f"{directory}/cgroup.controllers").split()
            return (
                f"cannot write {data!r} to {subtree}: [ENOENT] not all of them reach this "
                f"group (its cgroup.controllers: {' '.join(offered) or 'none'})"
            )
        if e.errno != errno.EBUSY:
            return str(failure(f"write {data!r} to", subtree, e))
        if not own:
            return _busy(directory, data)
    leaf = f"{directory}/{SUPERVISOR}"
    make_dirs(fs, leaf)
    try:
        fs.write(f"{leaf}/cgroup.procs", str(os.getpid()))
    except OSError as e:
        return str(failure("move this process into", f"{leaf}/cgroup.procs", e))
    try:
        fs.write(subtree, data)
    except OSError as e:
        return (
            _busy(directory, data)
            if e.errno == errno.EBUSY
            else str(failure(f"write {data!r} to", subtree, e))
        )
    return None


def delegate(
    fs: CgroupFs, mount: Mount, own_path: str, parent_path: str, controllers: Sequence[str]
) -> list[str]:
    """Create the parent group and enable ``controllers`` on the way down to it, the parent
    included (its children are the sandboxes). Returns the problems ([] = done)."""
    for path in _chain(mount, parent_path):
        directory = mount.dir_of(path)
        if directory is None:
            return [f"the cgroup2 mount at {mount.mount_point} does not show {path}"]
        try:
            make_dirs(fs, directory)
            problem = _enable(fs, directory, controllers, own=path == own_path)
        except SandboxSetupError as e:
            return [str(e)]
        if problem is not None:
            return [problem]
    return []
