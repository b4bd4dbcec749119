"""Mounts: a read-only root assembled from the runtime's files, nothing of the host's own.

Inside the sandbox's private mount namespace the child mounts a small tmpfs on an empty
directory of the host (``<state_dir>/root``; nothing is mounted there on the host side),
builds the tree below, then pivot_roots into it and detaches the host's root:

    /usr /etc/alternatives ...   read-only binds of the runtime (settings + the spec's extras)
    /bin /lib /lib64 /sbin       the same symlinks as the host (usrmerge) or read-only binds
    /usr/local ...               masked by an empty read-only tmpfs
    /etc/passwd /etc/group       written fresh: the sandbox user only
    /dev                         tmpfs with null zero full random urandom, fd links, shm
    /dev/pts /dev/ptmx           a private devpts instance, only for a run with a terminal
    /proc                        a fresh proc of the sandbox's pid namespace, hidepid=2
    /box  /tmp                   writable tmpfs, size and inode limits
    /                            remounted read-only, nosuid, nodev

Parent side ``plan`` resolves the host paths (stat, readlink) before the fork; the child
side ``build`` and ``pivot`` only mount. The host never looks inside a built root.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass

from execbox.sandbox import libc
from execbox.sandbox.spec import BOX_DIR, BindMount

_DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
            ("urandom", 1, 9))
_TOP_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_RO = libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV
_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Bind:
    source: str
    target: str
    is_dir: bool
    writable: bool


@dataclass(frozen=True, slots=True)
class RootPlan:
    path: str  # host directory the root tmpfs is mounted on (in the child's namespace)
    binds: tuple[Bind, ...]
    links: tuple[tuple[str, str], ...]  # (path in box, link target)
    masks: tuple[str, ...]
    uid: int
    gid: int
    work_bytes: int
    tmp_bytes: int
    inodes: int
    pty: bool = False  # a devpts instance of its own (an interactive run's terminal)


Resolved = tuple[tuple[Bind, ...], tuple[tuple[str, str], ...], tuple[str, ...]]


def plan(
    root: str,
    mounts: tuple[BindMount, ...],
    masks: tuple[str, ...],
    uid: int,
    gid: int,
    work_mb: int,
    tmp_mb: int,
    inodes: int,
    pty: bool = False,
    resolved: Resolved | None = None,
) -> RootPlan:
    """Parent side: resolve every host path once (or take ``resolved``, ``resolve``'s
    answer for these mounts and masks), skip optional ones that are absent."""
    binds, links, present_masks = resolved if resolved is not None else resolve(mounts, masks)
    return RootPlan(root, binds, links, present_masks, uid, gid,
                    work_mb * _MIB, tmp_mb * _MIB, inodes, pty)


def resolve(mounts: tuple[BindMount, ...], masks: tuple[str, ...]) -> Resolved:
    """The host side of a root: binds (sorted parents first), top-level links, the masks
    that exist. Only host paths: the same for every sandbox of these mounts (cache it for
    a few seconds, see ``ResolvedCache``)."""
    binds: list[Bind] = []
    links: list[tuple[str, str]] = []
    for name in _TOP_LINKS:
        host = "/" + name
        if os.path.islink(host):
            links.append((host, os.readlink(host)))
        elif os.path.isdir(host):
            binds.append(Bind(host, host, True, False))
    for m in mounts:
        try:
            st = os.stat(m.source)
        except FileNotFoundError:
            if m.optional:
                continue
            raise
        binds.append(Bind(m.source, m.target, stat.S_ISDIR(st.st_mode), m.writable))
    binds.sort(key=lambda b: b.target.count("/"))
    present_masks = tuple(p for p in masks if os.path.isdir(p))
    return tuple(binds), tuple(links), present_masks


class ResolvedCache:
    """``resolve`` for a backend: each (mounts, masks) resolved at most once every
    ``ttl_s`` seconds (a runtime installed or removed meanwhile is seen after that). A
    sandbox resolved ~20 host paths (stat, lstat, readlink) before it, ~0.1 ms each build."""

    def __init__(self, ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[tuple[tuple[BindMount, ...], tuple[str, ...]],
                            tuple[float, Resolved]] = {}

    def resolve(self, mounts: tuple[BindMount, ...], masks: tuple[str, ...]) -> Resolved:
        """``resolve``, from the cache while it is fresh."""
        key = (mounts, masks)
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is None or now - entry[0] > self.ttl_s:
            entry = (now, resolve(mounts, masks))
            self._entries[key] = entry  # a race only resolves twice
        return entry[1]


def _inside(p: RootPlan, path: str) -> str:
    return p.path + path


def _mkdirs(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


def _tmpfs(target: str, flags: int, options: str) -> None:
    libc.mount("tmpfs", target, "tmpfs", flags, options)


def build(p: RootPlan) -> None:
    """Child side, in the new mount namespace, before pivot_root."""
    libc.mount("none", "/", "", libc.MS_REC | libc.MS_PRIVATE)
    _tmpfs(p.path, libc.MS_NOSUID | libc.MS_NODEV, "size=1m,nr_inodes=1024,mode=755")
    for d in ("etc", "dev", "proc", "tmp", BOX_DIR[1:]):
        os.mkdir(_inside(p, "/" + d), 0o755)
    for path, target in p.links:
        os.symlink(target, _inside(p, path))
    for b in p.binds:
        _bind(p, b)
    for path in p.masks:
        _tmpfs(_inside(p, path), _RO | libc.MS_NOEXEC, "size=4k,nr_inodes=4,mode=755")
    _write_etc(p)
    _build_dev(p)
    libc.mount("proc", _inside(p, "/proc"), "proc",
               libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC, "hidepid=2")
    _tmpfs(_inside(p, BOX_DIR), libc.MS_NOSUID | libc.MS_NODEV,
           f"size={p.work_bytes},nr_inodes={p.inodes},mode=755,uid={p.uid},gid={p.gid}")
    _tmpfs(_inside(p, "/tmp"), libc.MS_NOSUID | libc.MS_NODEV,
           f"size={p.tmp_bytes},nr_inodes={p.inodes},mode=1777")


def _bind(p: RootPlan, b: Bind) -> None:
    target = _inside(p, b.target)
    if b.is_dir:
        _mkdirs(target)
    else:
        _mkdirs(os.path.dirname(target))
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644))
    libc.mount(b.source, target, "", libc.MS_BIND | libc.MS_REC)
    flags = libc.MS_BIND | libc.MS_REMOUNT | libc.MS_NOSUID | libc.MS_NODEV
    libc.mount("none", target, "", flags if b.writable else flags | libc.MS_RDONLY)


def _write_etc(p: RootPlan) -> None:
    etc = {
        "passwd": f"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
        f"runner:x:{p.uid}:{p.gid}:execbox:/tmp:/bin/sh\n",
        "group": f"root:x:0:\nrunner:x:{p.gid}:\n",
        "hosts": "127.0.0.1 localhost\n::1 localhost\n",
        "hostname": "execbox\n",
    }
    for name, text in etc.items():  # os-level: a buffered open() costs 50 us a file here
        try:
            fd = os.open(_inside(p, "/etc/" + name),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:  # a runtime mount already provides it
            continue
        os.write(fd, text.encode())
        os.close(fd)


def _build_dev(p: RootPlan) -> None:
    dev = _inside(p, "/dev")
    # Device nodes made here (cheaper than bind mounts, and nothing to unmount later);
    # the tmpfs is read-only afterwards and the sandbox has no CAP_MKNOD to add any.
    _tmpfs(dev, libc.MS_NOSUID | libc.MS_NOEXEC, "size=64k,nr_inodes=64,mode=755")
    for name, major, minor in _DEVICES:
        target = f"{dev}/{name}"
        os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(target, 0o666)  # noqa: S103 - null, zero... are world-writable; mknod obeys umask
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    os.mkdir(f"{dev}/shm", 0o755)
    _tmpfs(f"{dev}/shm", libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC,
           f"size={p.tmp_bytes},nr_inodes={p.inodes},mode=1777")
    if p.pty:  # its own instance: none of the host's terminals, a handful of its own
        os.mkdir(f"{dev}/pts", 0o755)
        libc.mount("devpts", f"{dev}/pts", "devpts", libc.MS_NOSUID | libc.MS_NOEXEC,
                   f"newinstance,ptmxmode=0666,mode=0620,gid={p.gid},max=16")
        os.symlink("pts/ptmx", f"{dev}/ptmx")
    libc.mount("none", dev, "", libc.MS_REMOUNT | libc.MS_RDONLY | libc.MS_NOSUID
               | libc.MS_NOEXEC, "size=64k,nr_inodes=64,mode=755")


def pivot(p: RootPlan) -> None:
    """Child side: make the built tree the root, forget the host's, seal it read-only."""
    os.chdir(p.path)
    libc.pivot_root(".", ".")
    libc.umount2(".", libc.MNT_DETACH)
    os.chdir("/")
    libc.mount("none", "/", "", libc.MS_REMOUNT | libc.MS_BIND | _RO)
