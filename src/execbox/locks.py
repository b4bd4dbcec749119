"""A lock file held with ``flock``: exclusive across threads and processes, and free again
the moment its holder dies (the kernel drops the lock with the last descriptor). Shared by
the layers that hand out something host-wide: sandbox uids, a run store's ownership."""

from __future__ import annotations

import fcntl
import os


def try_lock(path: str) -> int | None:
    """Lock ``path`` (created 0600 if absent, never through a link) without waiting: the
    descriptor that holds the lock (close it to release), or None if another holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
