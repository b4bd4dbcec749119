"""The status pipe from a sandbox's init to its supervisor: a few length-prefixed frames.

    READY    {"marks": [...]}                   a warm sandbox is built, waiting for an order
    ARMED    {}                                 a template sandbox's program waits for it too
    STARTED  {"pid": n}                         the program is running
    ERROR    {"stage": "...", "errno": n, "message": "..."}   setup failed (execbox's fault)
    EXIT     {"wait_status": n, "cpu_ns": n, "maxrss_kb": n, "wall_ns": n,
              "files": [[name, size], ...]}  followed by the files' bytes, back to back

The supervisor treats the pipe as untrusted input of bounded size: the init runs as the
sandbox user, after all. The other direction, the order pipe of a warm sandbox, carries
one pickled RunOrder from the backend (trusted) to the init before any program runs (a
template sandbox's program gets it as marshal: ``template.encode_order``). The bytes on
the wire are ``wire``'s.
"""

from __future__ import annotations

import json
import pickle
from typing import Any

from execbox.sandbox.wire import FRAME, read_blob, send_frame

READY = b"R"  # a warm sandbox is built and waits for its order
ARMED = b"A"  # and a template sandbox's program is forked, prepared and waits for it
STARTED = b"S"
ERROR = b"E"
EXIT = b"X"
MAX_FRAME = 256 * 1024 * 1024


def send(fd: int, kind: bytes, payload: dict[str, Any], tail: bytes = b"") -> None:
    send_frame(fd, kind, json.dumps(payload).encode(), tail)


class FrameReader:
    """Accumulates bytes from the status pipe and yields whole frames."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.frames: list[tuple[bytes, dict[str, Any]]] = []
        self.tail = bytearray()
        self.leftover = bytearray()  # after a whole report: the next run's frames (READY)
        self._exit_seen = False
        self._tail_size = 0

    def feed(self, data: bytes) -> None:
        if self._exit_seen:  # the collected files' bytes, then what a reused box says next
            room = self._tail_size - len(self.tail)
            self.tail += data[:room]
            self.leftover += data[max(room, 0):]
            if len(self.leftover) > MAX_FRAME:
                raise ValueError("status pipe sent more than a frame may hold")
            return
        self._buf += data
        if len(self._buf) > MAX_FRAME:
            raise ValueError("status pipe sent more than a frame may hold")
        while len(self._buf) >= FRAME.size:
            kind, size = FRAME.unpack_from(self._buf)
            if len(self._buf) < FRAME.size + size:
                return
            body = bytes(self._buf[FRAME.size:FRAME.size + size])
            del self._buf[:FRAME.size + size]
            payload = json.loads(body)
            if not isinstance(payload, dict):
                raise ValueError("status frame is not an object")
            self.frames.append((kind, payload))
            if kind == EXIT:
                self._exit_seen = True
                files = payload.get("files") or []
                self._tail_size = sum(int(size) for _, size in files)
                if not 0 <= self._tail_size <= MAX_FRAME:
                    raise ValueError("status frame announces too many bytes")
                self.feed(bytes(self._buf))
                self._buf.clear()
                return

    @property
    def complete(self) -> bool:
        """The EXIT frame and every byte of the files it announces have arrived."""
        return self._exit_seen and len(self.tail) >= self._tail_size

    def first(self, kind: bytes) -> dict[str, Any] | None:
        for k, payload in self.frames:
            if k == kind:
                return payload
        return None


def encode_order(order: object) -> bytes:
    return pickle.dumps(order, protocol=pickle.HIGHEST_PROTOCOL)


def read_order(fd: int) -> Any:
    """Init side: block until the backend sends the order (EOF: the sandbox is not wanted)."""
    return pickle.loads(read_blob(fd))  # noqa: S301 - written by the backend only
