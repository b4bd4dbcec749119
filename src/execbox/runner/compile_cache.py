"""Compile cache: compiled artifacts stored content-addressed by a hash of what made them.

Under ``root`` (0o711): ``<key[:2]>/<key>/files/`` holds the artifacts (mounted read-only
into run sandboxes), beside it ``manifest.json`` (names, size) and ``lock`` (flock: LOCK_SH
while leased, LOCK_EX while evicted); ``tmp/`` holds entries being written, ``trash/``
evicted ones. Entries appear and disappear only by rename, so a reader never sees a partial
one and processes may share a root. An entry's mtime is its last use. Each process indexes
(size, last use) by scanning at start and again before each eviction, so entries other
processes added, used or removed are accounted for.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

from execbox.errors import ConfigError, SandboxSetupError

_KEY = re.compile(r"[0-9a-f]{64}")
_SHARD = re.compile(r"[0-9a-f]{2}")
_ROOT = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_DIR = _ROOT | os.O_NOFOLLOW
_STALE_TMP_NS = 3600 * 10**9  # a temp dir this old belongs to a writer that died


def cache_key(language: str, version: str, compile_argv: Sequence[str],
              sources: Sequence[tuple[str, bytes]],
              options: Mapping[str, str] | None = None) -> str:
    """sha256 hex over a canonical, unambiguous encoding of everything that changes the output.

    Each field is length-prefixed and each list preceded by its count; sources and options
    are sorted by name (their order changes nothing); ``options=None`` equals ``{}``.
    """
    srcs = sorted(sources, key=lambda s: s[0])
    if len({name for name, _ in srcs}) != len(srcs):
        raise ConfigError("duplicate source file names")
    opts = sorted((options or {}).items())
    fields = [language.encode(), version.encode(), b"%d" % len(compile_argv),
              *(arg.encode() for arg in compile_argv), b"%d" % len(srcs)]
    for name, data in srcs:
        fields += [name.encode(), bytes(data)]
    fields.append(b"%d" % len(opts))
    for k, v in opts:
        fields += [k.encode(), v.encode()]
    h = hashlib.sha256(b"execbox-compile-cache-v1\0")
    for f in fields:
        h.update(len(f).to_bytes(8, "big"))
        h.update(f)
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class CachedArtifacts:
    key: str
    directory: str  # absolute host path holding the artifact files (bind-mount it read-only)
    files: tuple[str, ...]  # relative names inside it, sorted
    size: int  # total bytes of the files


class CompileCache:
    def __init__(self, root: str, max_bytes: int = 512 * 1024 * 1024) -> None:
        self._root = os.path.abspath(root)
        self._max = max_bytes
        self._tmp, self._trash = (os.path.join(self._root, d) for d in ("tmp", "trash"))
        os.makedirs(self._root, mode=0o711, exist_ok=True)
        os.chmod(self._root, 0o711)  # noqa: S103 - traversable only: the sandbox mounts below
        for path in (self._tmp, self._trash):
            os.makedirs(path, mode=0o700, exist_ok=True)
        self._lock = threading.Lock()
        self._index: dict[str, tuple[int, int]] = {}  # key -> (size, last use in ns)
        self._total = 0
        self._in_use: dict[str, int] = {}  # key -> leases held in this process
        for ent in _subdirs(self._trash) + _subdirs(self._tmp):  # left by dead processes
            with contextlib.suppress(OSError):
                age = time.time_ns() - ent.stat(follow_symlinks=False).st_mtime_ns
                if ent.path.startswith(self._trash) or age > _STALE_TMP_NS:
                    shutil.rmtree(ent.path, ignore_errors=True)
        with self._lock:
            self._rescan()

    def get(self, key: str) -> CachedArtifacts | None:
        """The entry, marked as just used; None if absent."""
        _check_key(key)
        found = self._read(key, touch=True)
        with self._lock:
            self._set(key, None if found is None else (found[0].size, found[1]))
        return None if found is None else found[0]

    def put(self, key: str, files: Mapping[str, bytes], *,
            executable: Collection[str] = ()) -> CachedArtifacts:
        """Store ``files`` under ``key``, or return the entry another writer stored first."""
        _check_key(key)
        _check_names(files, executable)
        found = self.get(key)
        if found is not None:
            return found
        tmp = tempfile.mkdtemp(prefix=key[:16] + ".", dir=self._tmp)
        try:
            self._write(tmp, files, frozenset(executable))
            found = self._install(key, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # gone already unless we lost the race
        self._evict(keep=key)
        return found

    @contextlib.contextmanager
    def lease(self, key: str) -> Iterator[CachedArtifacts | None]:
        """get(), and no process evicts the entry until the block exits."""
        _check_key(key)
        with self._lock:
            self._in_use[key] = self._in_use.get(key, 0) + 1
        fd = None
        try:
            fd = self._lock_entry(key, fcntl.LOCK_SH)
            yield None if fd is None else self.get(key)
        finally:
            if fd is not None:
                os.close(fd)
            with self._lock:
                if (left := self._in_use.pop(key) - 1) > 0:
                    self._in_use[key] = left

    def size(self) -> int:
        with self._lock:
            return self._total

    def clear(self) -> None:
        """Remove every entry not leased at the moment."""
        self._evict(keep="", max_bytes=-1)

    # -- internals -------------------------------------------------------------------------

    def _entry(self, key: str) -> str:
        return os.path.join(self._root, key[:2], key)

    def _set(self, key: str, value: tuple[int, int] | None) -> None:
        old = self._index.pop(key, None)
        self._total -= 0 if old is None else old[0]
        if value is not None:
            self._index[key] = value
            self._total += value[0]

    def _read(self, key: str, *, touch: bool) -> tuple[CachedArtifacts, int] | None:
        """The entry and its last use, never following a link; None if absent or not ours."""
        fds = [os.open(self._root, _ROOT)]
        try:
            for part in (key[:2], key):
                fds.append(os.open(part, _DIR, dir_fd=fds[-1]))
            fd = os.open("manifest.json", os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fds[-1])
            with os.fdopen(fd, "rb") as f:
                manifest = json.load(f)
            files, size = tuple(str(n) for n in manifest["files"]), int(manifest["size"])
            used = time.time_ns()
            if touch:
                os.utime(fds[-1], ns=(used, used))
            else:
                used = os.fstat(fds[-1]).st_mtime_ns
        except (OSError, ValueError, KeyError, TypeError):
            return None
        finally:
            for fd in fds:
                os.close(fd)
        directory = os.path.join(self._entry(key), "files")
        return CachedArtifacts(key=key, directory=directory, files=files, size=size), used

    def _write(self, tmp: str, files: Mapping[str, bytes], executable: frozenset[str]) -> None:
        top = os.open(tmp, _DIR)
        try:
            os.fchmod(top, 0o755)
            for name, data in files.items():
                *dirs, leaf = ["files", *name.split("/")]
                parent = _open_dirs(top, dirs)
                try:
                    _create(parent, leaf, data, 0o755 if name in executable else 0o644)
                finally:
                    os.close(parent)
            os.close(_open_dirs(top, ["files"]))  # even with no files
            manifest = {"files": sorted(files), "size": sum(map(len, files.values()))}
            _create(top, "manifest.json", json.dumps(manifest).encode(), 0o644)
            _create(top, "lock", b"", 0o600)
        finally:
            os.close(top)

    def _install(self, key: str, tmp: str) -> CachedArtifacts:
        """Rename ``tmp`` into place; if another writer won, their entry."""
        root = os.open(self._root, _ROOT)
        try:
            shard = _open_dirs(root, [key[:2]])
        finally:
            os.close(root)
        try:
            for _ in range(5):
                try:
                    os.rename(tmp, key, dst_dir_fd=shard)
                except OSError as e:
                    if e.errno == errno.ENOTDIR:  # a link or file planted there: never an entry
                        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                            os.unlink(key, dir_fd=shard)
                        continue
                    if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise
                if (found := self.get(key)) is not None:
                    return found
                if not os.path.lexists(tmp):
                    break  # ours went in and was evicted at once
        finally:
            os.close(shard)
        raise SandboxSetupError(f"could not install compile cache entry {key}")

    def _lock_entry(self, key: str, op: int) -> int | None:
        """An fd holding ``flock(op)`` on the entry's lock, if the entry is still in place."""
        path = os.path.join(self._entry(key), "lock")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            fcntl.flock(fd, op)
            st, held = os.stat(path, follow_symlinks=False), os.fstat(fd)
            if (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino):
                return fd
        except OSError:
            pass
        os.close(fd)  # leased by someone, or evicted while we waited
        return None

    def _evict(self, keep: str, max_bytes: int | None = None) -> None:
        """Remove least recently used entries, not leased, until within ``max_bytes``."""
        limit = self._max if max_bytes is None else max_bytes
        trash: list[str] = []
        with self._lock:
            if self._total <= limit:
                return
            self._rescan()
            for key, _ in sorted(self._index.items(), key=lambda kv: kv[1][1]):
                if self._total <= limit:
                    break
                if key == keep or self._in_use.get(key):
                    continue
                fd = self._lock_entry(key, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if fd is not None:
                    trash.append(os.path.join(self._trash, f"{key}.{secrets.token_hex(8)}"))
                    try:  # renamed first: readers never see it half removed
                        os.rename(self._entry(key), trash[-1])
                    except FileNotFoundError:
                        pass
                    finally:
                        os.close(fd)
                if fd is not None or not os.path.lexists(self._entry(key)):
                    self._set(key, None)
        for path in trash:
            shutil.rmtree(path, ignore_errors=True)

    def _rescan(self) -> None:
        """Rebuild the index from disk (self._lock held); sizes of known entries are kept."""
        index: dict[str, tuple[int, int]] = {}
        for shard in _subdirs(self._root):
            for ent in _subdirs(shard.path) if _SHARD.fullmatch(shard.name) else []:
                key, known = ent.name, self._index.get(ent.name)
                if not _KEY.fullmatch(key) or key[:2] != shard.name:
                    continue
                if known is not None:
                    with contextlib.suppress(FileNotFoundError):
                        index[key] = (known[0], ent.stat(follow_symlinks=False).st_mtime_ns)
                elif (found := self._read(key, touch=False)) is not None:
                    index[key] = (found[0].size, found[1])
        self._index = index
        self._total = sum(size for size, _ in index.values())


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ConfigError(f"bad compile cache key {key!r}")


def _check_names(files: Mapping[str, bytes], executable: Collection[str]) -> None:
    """Plain relative names, nested allowed: no empty, ``.`` or ``..`` part, no NUL."""
    dirs: set[str] = set()
    for name in files:
        parts = name.split("/") if isinstance(name, str) and "\0" not in name else [""]
        if any(p in ("", ".", "..") for p in parts):
            raise ConfigError(f"bad artifact file name {name!r}")
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
    if clash := sorted(dirs & set(files)):
        raise ConfigError(f"artifact names are both a file and a directory: {clash}")
    if unknown := sorted(set(executable) - set(files)):
        raise ConfigError(f"executable names that are not artifact files: {unknown}")


def _open_dirs(top: int, parts: list[str]) -> int:
    """Open ``top/parts...`` (created with mode 0o755), following no link: a link or file
    in the way is removed (the root is ours; only a tampering root user could plant one)."""
    fd = os.dup(top)
    try:
        for part in parts:
            for attempt in range(3):
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                try:
                    sub = os.open(part, _DIR, dir_fd=fd)
                    break
                except OSError as e:
                    if attempt == 2 or e.errno not in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                        raise
                    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                        os.unlink(part, dir_fd=fd)
            os.close(fd)
            fd = sub
            os.fchmod(fd, 0o755)  # not subject to the umask
    except BaseException:
        os.close(fd)
        raise
    return fd


def _create(dir_fd: int, name: str, data: bytes, mode: int) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with os.fdopen(os.open(name, flags, mode, dir_fd=dir_fd), "wb") as f:
        os.fchmod(f.fileno(), mode)  # not subject to the umask
        f.write(data)


def _subdirs(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return [e for e in it if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
