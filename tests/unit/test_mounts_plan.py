"""The host side of a sandbox's root (sandbox/mounts.py): resolved from host paths, and
cached per backend for a few seconds (ResolvedCache)."""

from __future__ import annotations

from execbox.sandbox import mounts
from execbox.sandbox.spec import BindMount


def test_optional_mounts_that_appear_are_seen_after_the_ttl(tmp_path, monkeypatch):
    extra = tmp_path / "runtime"
    wanted = (BindMount(str(extra), "/opt/runtime", optional=True),)
    cache = mounts.ResolvedCache(ttl_s=5.0)
    clock = [1000.0]
    monkeypatch.setattr(mounts.time, "monotonic", lambda: clock[0])

    def targets() -> list[str]:
        plan = mounts.plan("/r", wanted, (), 900001, 900001, 8, 8, 100,
                           resolved=cache.resolve(wanted, ()))
        assert (plan.uid, plan.gid, plan.work_bytes) == (900001, 900001, 8 << 20)
        return [b.target for b in plan.binds]

    assert "/opt/runtime" not in targets()  # absent and optional: skipped
    extra.mkdir()
    clock[0] += 1
    assert "/opt/runtime" not in targets()  # cached
    clock[0] += 5
    assert "/opt/runtime" in targets()  # resolved again
    assert targets() == [b.target for b in mounts.resolve(wanted, ())[0]]
