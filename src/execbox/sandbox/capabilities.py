"""Capabilities: none, anywhere, for good.

Child side, in this order: ``drop_bounding`` while still root (needs CAP_SETPCAP), then the
uid switch (which empties permitted and effective), then ``clear``: inheritable and ambient
emptied, ``no_new_privs`` (setuid binaries and file capabilities do nothing any more) and
not dumpable (nobody of the same uid may ptrace or read the sandbox's init).
"""

from __future__ import annotations

from execbox.sandbox import libc


def last_cap(path: str = "/proc/sys/kernel/cap_last_cap") -> int:
    """Parent side: the highest capability number this kernel knows."""
    with open(path) as f:
        return int(f.read())


def drop_bounding(last: int) -> None:
    for cap in range(last + 1):
        libc.prctl(libc.PR_CAPBSET_DROP, cap)


def clear() -> None:
    libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL)
    libc.capset_clear()
    libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
    libc.prctl(libc.PR_SET_DUMPABLE, 0)
