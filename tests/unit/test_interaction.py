"""The caller's handle on an interactive run, without a sandbox."""

from __future__ import annotations

import os
import signal

import pytest

from execbox.errors import ConfigError
from execbox.sandbox.interaction import MAX_PENDING_STDIN, Interaction


def test_operations_arrive_in_order_and_wake_the_supervisor() -> None:
    it = Interaction(lambda stream, data: None)
    it.write(b"a")
    it.close_stdin()
    it.signal(signal.SIGINT)
    it.kill()
    assert os.read(it.wake_r, 10)  # woken (one byte or more)
    assert [op.kind for op in it.take()] == ["stdin", "eof", "signal", "kill"]
    assert it.take() == []
    it.close()


def test_unread_stdin_is_capped_until_consumed() -> None:
    it = Interaction(lambda stream, data: None)
    it.write(b"x" * MAX_PENDING_STDIN)
    with pytest.raises(ConfigError):
        it.write(b"y")
    it.consumed(10)
    it.write(b"y" * 10)
    it.close()


def test_bad_signals_are_refused() -> None:
    it = Interaction(lambda stream, data: None)
    with pytest.raises(ConfigError):
        it.signal(0)
    it.close()


def test_after_close_operations_are_dropped_and_fds_released() -> None:
    it = Interaction(lambda stream, data: None)
    fd = it.wake_r
    it.close()
    it.close()
    it.write(b"late")
    it.kill()
    with pytest.raises(OSError):
        os.fstat(fd)
