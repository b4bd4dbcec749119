"""Where the cgroup hierarchies are mounted and where this process sits in them.

Reads ``/proc/self/mountinfo`` (see proc(5)) and ``/proc/self/cgroup`` (see cgroups(7)),
and maps a cgroup path onto a directory of the mount that shows it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from execbox.errors import ConfigError, SandboxUnavailable
from execbox.sandbox.cgroups.base import CgroupSettings

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True, slots=True)
class Mount:
    """One cgroup or cgroup2 mount."""

    root: str  # the cgroup path shown at the mount point ("/" unless a subtree is mounted)
    mount_point: str
    fstype: str  # "cgroup" (v1) or "cgroup2"
    super_options: frozenset[str]  # v1: the controllers of the hierarchy, plus rw, name=...

    def dir_of(self, cgroup_path: str) -> str | None:
        """The directory of ``cgroup_path`` under this mount, or None if the mount hides it."""
        path = _norm(cgroup_path)
        if self.root != "/" and path != self.root and not path.startswith(self.root + "/"):
            return None
        rest = path[len(self.root) :] if self.root != "/" else path
        return self.mount_point.rstrip("/") + rest if rest != "/" else self.mount_point


@dataclass(frozen=True, slots=True)
class OwnCgroups:
    """This process's line of /proc/self/cgroup for each hierarchy."""

    v1: dict[str, str]  # controller (or "name=systemd") -> cgroup path
    v2: str | None  # the "0::" line's path, None if there is none


def _norm(path: str) -> str:
    return posixpath.normpath("/" + path.lstrip("/"))


def _unescape(field: str) -> str:
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def _is_under(path: str, root: str) -> bool:
    root = root.rstrip("/") or "/"
    return root == "/" or path == root or path.startswith(root + "/")


def parse_mountinfo(text: str, under: str = "/") -> list[Mount]:
    """The cgroup and cgroup2 mounts in ``text`` whose mount point is ``under`` or below it."""
    mounts = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
            fstype, super_options = fields[sep + 1], fields[sep + 3]
        except (ValueError, IndexError):
            continue  # not a mountinfo line
        if fstype not in ("cgroup", "cgroup2"):
            continue
        mount_point = _unescape(fields[4])
        if not _is_under(mount_point, under):
            continue
        mounts.append(
            Mount(
                root=_unescape(fields[3]),
                mount_point=mount_point,
                fstype=fstype,
                super_options=frozenset(super_options.split(",")),
            )
        )
    return mounts


def parse_proc_cgroup(text: str) -> OwnCgroups:
    """The lines ``hierarchy-id:controllers:path`` of /proc/<pid>/cgroup."""
    v1: dict[str, str] = {}
    v2 = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            v2 = path
            continue
        for controller in controllers.split(","):
            if controller:
                v1[controller] = path
    return OwnCgroups(v1=v1, v2=v2)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError as e:
        raise SandboxUnavailable(
            [f"cannot read {path}: [Errno {e.errno}] {e.strerror} (is /proc mounted?)"]
        ) from e


def read_mounts(mountinfo_path: str, under: str) -> list[Mount]:
    """The cgroup mounts at or below ``under`` listed by the mountinfo file."""
    return parse_mountinfo(_read(mountinfo_path), under)


def read_own(proc_cgroup_path: str) -> OwnCgroups:
    """This process's cgroups, from the /proc/self/cgroup file."""
    return parse_proc_cgroup(_read(proc_cgroup_path))


def v1_mount(mounts: list[Mount], controller: str, cgroup_path: str) -> Mount | None:
    """The v1 mount of the hierarchy holding ``controller`` (co-mounts included).

    Of several mounts of that hierarchy, the first that shows ``cgroup_path`` wins.
    """
    found = [m for m in mounts if m.fstype == "cgroup" and controller in m.super_options]
    found.sort(key=lambda m: m.dir_of(cgroup_path) is None)
    return found[0] if found else None


def v2_mount(mounts: list[Mount], root: str) -> Mount | None:
    """The cgroup2 mount, preferring one at ``root`` itself (a pure v2 host) to a hybrid one."""
    found = [m for m in mounts if m.fstype == "cgroup2"]
    found.sort(key=lambda m: m.mount_point.rstrip("/") != root.rstrip("/"))
    return found[0] if found else None


def parent_path(own: str, parent: str) -> str:
    """The cgroup path of the parent group: ``parent`` if absolute, else below ``own``.

    Raises ConfigError for a parent that is empty or climbs with "..".
    """
    parts = [p for p in parent.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts) or "\0" in parent:
        raise ConfigError(f"cgroup parent {parent!r} must name a group (no '.', '..' or NUL)")
    return _norm(parent) if parent.startswith("/") else _norm(own + "/" + "/".join(parts))


def v1_parent_dir(
    settings: CgroupSettings, mounts: list[Mount], own: OwnCgroups, controller: str
) -> str:
    """The parent group's directory in the hierarchy of ``controller``, or why there is none
    (as a SandboxUnavailable-ready sentence in a LookupError)."""
    own_path = own.v1.get(controller)
    mount = v1_mount(mounts, controller, own_path or "/")
    if mount is None:
        raise LookupError(
            f"no cgroup v1 hierarchy with the {controller} controller is mounted under "
            f"{settings.root} (per {settings.mountinfo_path})"
        )
    if own_path is None and not settings.parent.startswith("/"):
        raise LookupError(f"{settings.proc_cgroup_path} has no line for v1 {controller}")
    path = parent_path(own_path or "/", settings.parent)
    directory = mount.dir_of(path)
    if directory is None:
        raise LookupError(
            f"the {controller} hierarchy mounted at {mount.mount_point} shows only "
            f"{mount.root}, not the cgroup {path}"
        )
    return directory
