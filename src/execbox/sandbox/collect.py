"""Files out of the work dir after a run (child side, as the sandbox user).

Every path component is opened with O_NOFOLLOW beneath the work dir, only regular files
are read, and a byte budget bounds the total: a link the program planted leads nowhere.
"""

from __future__ import annotations

import fnmatch
import os


def collect(top: str, names: tuple[str, ...], budget: int,
            ) -> tuple[list[list[object]], list[bytes]]:
    """Read the asked-for files of the work dir without following any link. A name with
    a wildcard (``*.class``) matches the entries of the work dir's top level."""
    found: list[list[object]] = []
    blobs: list[bytes] = []
    expanded: list[str] = []
    for name in names:
        if any(c in name for c in "*?["):
            expanded += sorted(fnmatch.filter(os.listdir(top), name))
        else:
            expanded.append(name)
    for name in dict.fromkeys(expanded):
        data = _read_beneath(top, name, budget)
        if data is None:
            continue
        budget -= len(data)
        found.append([name, len(data)])
        blobs.append(data)
    return found, blobs


def _read_beneath(top: str, name: str, budget: int) -> bytes | None:
    nofollow = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(top, nofollow | os.O_DIRECTORY)
    try:
        *dirs, base = name.split("/")
        for d in dirs:
            nfd = os.open(d, nofollow | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        ffd = os.open(base, nofollow | os.O_NONBLOCK, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        st = os.fstat(ffd)
        if st.st_mode & 61440 != 32768 or st.st_size > budget:
            return None
        chunks = []
        while chunk := os.read(ffd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(ffd)
