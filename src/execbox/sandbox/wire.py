"""Length-prefixed messages on pipes and sockets (standard library only: os, struct).

The status pipe's frames (``protocol``: a kind byte, a 4-byte length, a JSON body), the
order pipe's and the spawners' messages (an 8-byte length, then the bytes). Kept apart
from ``protocol`` (which brings json and pickle) so that the template spawner, whose
every module is paid for by each fork, can speak the same wire.
"""

from __future__ import annotations

import os
import struct

TYPE_CHECKING = False  # typing is not imported: see template.py
if TYPE_CHECKING:
    import _socket  # socket.socket's base: the template spawner passes one

FRAME = struct.Struct("!cI")  # a status frame's header: kind, length of the body
LENGTH = struct.Struct("!Q")  # a message's length, before its bytes


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def send_frame(fd: int, kind: bytes, body: bytes, tail: bytes = b"") -> None:
    """A status frame whose JSON body is already encoded (then ``tail``'s bytes)."""
    write_all(fd, FRAME.pack(kind, len(body)) + body + tail)


def blob(data: bytes) -> bytes:
    """One length-prefixed message (the order pipe's), as written."""
    return LENGTH.pack(len(data)) + data


def read_blob(fd: int) -> bytes:
    (size,) = LENGTH.unpack(read_exact(fd, LENGTH.size))
    return read_exact(fd, size)


def read_exact(fd: int, size: int) -> bytes:
    """Exactly ``size`` bytes from a pipe; EOFError if it closes first."""
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError("order pipe closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv_exact(sock: _socket.socket, size: int) -> bytes:
    """Exactly ``size`` bytes from a stream socket; OSError if it ends first."""
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("unexpected end of stream")
        data += chunk
    return bytes(data)


def drain(fd: int) -> None:
    """Read a non-blocking pipe empty (a signal wake-up pipe)."""
    while True:
        try:
            if not os.read(fd, 4096):
                return
        except BlockingIOError:
            return
