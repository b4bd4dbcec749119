import os

import pytest

from execbox.errors import SandboxSetupError
from execbox.sandbox.users import SlotAllocator


def test_slots_are_exclusive_and_reusable(tmp_path):
    a = SlotAllocator(str(tmp_path), 2, 100_000)
    b = SlotAllocator(str(tmp_path), 2, 100_000)  # another process's view of the same host
    s1 = a.acquire()
    s2 = b.acquire()
    assert {s1.uid, s2.uid} == {100_000, 100_001}
    assert s1.name != s2.name
    with pytest.raises(SandboxSetupError, match="all 2"):
        a.acquire()
    b.release(s2)
    s3 = a.acquire()
    assert s3.uid == s2.uid
    assert list(a.free_slots()) == []
    a.release(s1)
    a.release(s3)
    assert [s.index for s in b.free_slots()] == [0, 1]


def test_a_dead_holder_frees_its_slot(tmp_path):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        SlotAllocator(str(tmp_path), 1, 100_000).acquire()
        os.write(w, b"x")
        os._exit(0)  # dies holding the slot
    os.read(r, 1)
    os.waitpid(pid, 0)
    assert SlotAllocator(str(tmp_path), 1, 100_000).acquire().index == 0
