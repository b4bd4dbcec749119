"""A run's input files and stdin, made inside the sandbox (child side, standard library only).

Used by the init (``child.py``) and by a program forked from a template spawner
(``template.py``), which imports nothing it does not need: every module a template holds
is memory each of its forks copies pages of.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing is not imported: see template.py
if TYPE_CHECKING:
    from collections.abc import Iterable

BOX_DIR = "/box"  # the writable work directory inside every sandbox


def write_files(box_dir: str, files: Iterable[tuple[str, bytes, bool]]) -> None:
    """Child side, after pivot_root and as the sandbox user: the inputs into the work dir.

    Nothing has run in the box yet, so no link can have been planted; O_NOFOLLOW|O_EXCL
    and directory descriptors make that a guarantee anyway.
    """
    box = os.open(box_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for name, content, executable in files:
            *dirs, base = name.split("/")
            parent = _open_dirs(box, dirs)
            try:
                mode = 0o755 if executable else 0o644
                fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                             mode, dir_fd=parent)
                try:
                    view = memoryview(content)
                    while view:
                        view = view[os.write(fd, view):]
                    os.fchmod(fd, mode)
                finally:
                    os.close(fd)
            finally:
                if parent != box:
                    os.close(parent)
    finally:
        os.close(box)


def _open_dirs(box: int, dirs: list[str]) -> int:
    fd = box
    for d in dirs:
        try:
            os.mkdir(d, 0o755, dir_fd=fd)
        except FileExistsError:
            pass
        nfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        if fd != box:
            os.close(fd)
        fd = nfd
    return fd


def memfd(data: bytes) -> int:
    """The program's stdin: an anonymous file holding ``data``, read from the start."""
    fd = os.memfd_create("stdin", os.MFD_CLOEXEC)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
