"""Warm sandboxes per flavor (a language's stage), built ahead of demand.

A flavor says how its sandboxes are built: the runtime's read-only mounts, an optional
preloaded interpreter (zygote) and the caps every request must fit in. The pool keeps
``min_warm`` of each ready and builds replacements on a background thread. By default a
sandbox serves one run and is destroyed (max uses 1: no state can cross runs); with
``max_uses`` N > 1 it serves up to N, its init killing every process and wiping the work
dir, /tmp, /dev/shm and IPC objects between two, then waiting ``cooldown_s`` before it is
handed out again.

acquire: a warm box that is still healthy (its init alive, younger than ``max_age_s``);
    else, while the flavor is under ``max_size``, one built on the spot (a cold start);
    else wait up to ``acquire_timeout_s`` for one, then PoolExhausted.
run:     acquire → execute → the box is gone; a failure to execute is retried once on a
    fresh sandbox (recycle on failure).
"""

from __future__ import annotations

import select
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from execbox.errors import ConfigError, SandboxError, SandboxSetupError
from execbox.sandbox.namespace_backend import WarmSandbox
from execbox.sandbox.spec import BindMount, SandboxSpec
from execbox.types import Limits, StageResult


class WarmBackend(Protocol):
    """What the pool needs of a sandbox backend (the namespace backend has it)."""

    def build(self, mounts: tuple[BindMount, ...] = (), caps: Limits | None = None,
              zygote: tuple[str, ...] | None = None,
              inprocess: tuple[str, str] | None = None, max_uses: int = 1,
              idle: bool = True) -> WarmSandbox: ...

    def execute(self, box: WarmSandbox, spec: SandboxSpec) -> StageResult: ...

    async def execute_async(self, box: WarmSandbox, spec: SandboxSpec) -> StageResult: ...

    def recycle(self, box: WarmSandbox) -> None: ...

    def discard(self, box: WarmSandbox) -> None: ...


class PoolExhausted(SandboxError):
    """No sandbox of a flavor could be had within the acquire timeout."""


@dataclass(frozen=True, slots=True)
class Flavor:
    mounts: tuple[BindMount, ...] = ()
    zygote: tuple[str, ...] | None = None
    caps: Limits = field(default_factory=Limits)
    inprocess: tuple[str, str] | None = None  # (interpreter, "module:function")


@dataclass(frozen=True, slots=True)
class PoolSettings:
    min_warm: int = 1  # per flavor, kept ready
    max_size: int = 8  # per flavor, warm + busy
    max_uses: int = 1  # runs per sandbox (1: a fresh sandbox every run)
    cooldown_s: float = 0.0  # pause between two runs of one sandbox (max_uses > 1)
    max_age_s: float = 600.0  # older warm boxes are rebuilt (health check on acquire)
    acquire_timeout_s: float = 10.0
    # after the last run in flight ends, refills (of flavors with a warm sandbox left) wait
    # this long: its answer is still on its way out and a build would hold the GIL (while
    # runs are in flight, a flavor is refilled up to as many as it has runs in flight)
    refill_delay_s: float = 0.01

    def __post_init__(self) -> None:
        if self.max_uses < 1 or self.cooldown_s < 0 or self.refill_delay_s < 0:
            raise SandboxSetupError("max_uses must be at least 1, cooldown_s and "
                                    "refill_delay_s >= 0")
        if self.min_warm < 0 or self.max_size < 1 or self.min_warm > self.max_size:
            raise SandboxSetupError("need 0 <= min_warm <= max_size and max_size >= 1")


@dataclass(slots=True)
class _Counters:
    built: int = 0
    build_failures: int = 0
    hits: int = 0  # runs served by a warm sandbox
    misses: int = 0  # runs that had to build one on the spot
    discarded: int = 0  # unhealthy or surplus sandboxes destroyed
    recycled: int = 0  # runs retried on a fresh sandbox after a failure
    reused: int = 0  # sandboxes wiped and made ready for another run


@dataclass(slots=True)
class _FlavorState:
    flavor: Flavor
    warm: deque[WarmSandbox] = field(default_factory=deque)
    used: deque[WarmSandbox] = field(default_factory=deque)  # to wipe for another run
    cooling: list[tuple[float, WarmSandbox]] = field(default_factory=list)
    busy: int = 0
    building: int = 0
    counters: _Counters = field(default_factory=_Counters)

    @property
    def size(self) -> int:
        return len(self.warm) + len(self.used) + len(self.cooling) + self.busy + self.building


class WarmPool:
    def __init__(self, backend: WarmBackend, settings: PoolSettings,
                 flavors: dict[str, Flavor]) -> None:
        if settings.max_uses > 1 and any(f.inprocess for f in flavors.values()):
            raise ConfigError("template (fork) flavors cannot be reused: their program is "
                              "forked into a sandbox for one run; use max_uses 1 or the exec "
                              "zygote")
        self._backend = backend
        self.settings = settings
        self._states = {name: _FlavorState(f) for name, f in flavors.items()}
        self._cond = threading.Condition()
        self._closed = False
        self._last_done = 0.0  # when the last run ended (monotonic)
        self._refiller = threading.Thread(target=self._refill_loop, name="execbox-refill",
                                          daemon=True)
        self._refiller.start()

    def flavors(self) -> list[str]:
        return list(self._states)

    def has(self, name: str) -> bool:
        return name in self._states

    def run(self, name: str, spec: SandboxSpec) -> StageResult:
        state = self._states[name]
        box = self._acquire(state)
        try:
            try:
                return self._backend.execute(box, spec)
            except SandboxSetupError:
                state.counters.recycled += 1
                box = self._build(state.flavor, idle=False)
                return self._backend.execute(box, spec)
        finally:
            self._done(state, box)

    async def run_async(self, name: str, spec: SandboxSpec) -> StageResult | None:
        """``run`` on the event loop when a warm sandbox is ready now (the backend's
        ``execute_async``); None, having done nothing, when none is or when the one taken
        failed before its run (the caller then uses ``run``, which builds or retries in
        its thread)."""
        state = self._states[name]
        with self._cond:
            box = self._take_warm(state)
        if box is None:
            return None
        try:
            return await self._backend.execute_async(box, spec)
        except SandboxSetupError:
            state.counters.recycled += 1
            return None
        finally:
            self._done(state, box)

    def _done(self, state: _FlavorState, box: WarmSandbox) -> None:
        with self._cond:
            state.busy -= 1
            self._last_done = time.monotonic()
            if box.reusable and not self._closed:
                state.used.append(box)  # the refiller waits for its wipe
            self._cond.notify_all()

    def wait_warm(self, timeout_s: float = 30.0, settled: bool = False) -> bool:
        """Block until every flavor has min_warm ready (start-up, tests, benchmarks);
        ``settled``: and nothing is being built, wiped or cooled any more."""
        deadline = time.monotonic() + timeout_s

        def waiting(s: _FlavorState) -> bool:
            busy = s.building or s.used or s.cooling
            return len(s.warm) < self.settings.min_warm or bool(settled and busy)

        with self._cond:
            while any(waiting(s) for s in self._states.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stats(self) -> dict[str, dict[str, int]]:
        with self._cond:
            return {name: {"warm": len(s.warm), "busy": s.busy, "building": s.building,
                           **{k: getattr(s.counters, k) for k in _Counters.__slots__}}
                    for name, s in self._states.items()}

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._refiller.join()
        with self._cond:
            boxes = [b for s in self._states.values()
                     for b in (*s.warm, *s.used, *(box for _, box in s.cooling))]
            for s in self._states.values():
                s.warm.clear()
                s.used.clear()
                s.cooling.clear()
        for box in boxes:
            self._backend.discard(box)

    def _acquire(self, state: _FlavorState) -> WarmSandbox:
        deadline = time.monotonic() + self.settings.acquire_timeout_s
        with self._cond:
            while True:
                box = self._take_warm(state)
                if box is not None:
                    return box
                if state.size < self.settings.max_size:
                    state.busy += 1
                    state.counters.misses += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PoolExhausted(f"no sandbox free within "
                                        f"{self.settings.acquire_timeout_s:g} s")
                self._cond.wait(left)
        try:
            return self._build(state.flavor, idle=False)  # a request waits for this one
        except BaseException:
            with self._cond:
                state.busy -= 1
                self._cond.notify_all()
            raise

    def _take_warm(self, state: _FlavorState) -> WarmSandbox | None:
        """Under the lock: a healthy warm sandbox, counted busy; None if none is ready."""
        while state.warm:
            box = state.warm.popleft()
            if self._healthy(box):
                state.busy += 1
                state.counters.hits += 1
                if len(state.warm) + state.building < self._target(state, True, False):
                    # the refiller replaces it. Not woken otherwise: woken for nothing, it
                    # took the GIL from this run just before its order was written
                    self._cond.notify_all()
                return box
            state.counters.discarded += 1
            self._backend.discard(box)
        return None

    def _healthy(self, box: WarmSandbox) -> bool:
        if time.monotonic() - box.built_at > self.settings.max_age_s:
            return False
        exited, _, _ = select.select([box.pidfd], [], [], 0)
        return not exited

    def _build(self, flavor: Flavor, idle: bool = True) -> WarmSandbox:
        return self._backend.build(flavor.mounts, flavor.caps, flavor.zygote, flavor.inprocess,
                                   self.settings.max_uses, idle)

    def _reuse(self) -> bool:
        """Under the lock: move cooled boxes to warm; wipe one used box (lock released
        meanwhile). True if there was work."""
        now = time.monotonic()
        for state in self._states.values():
            due = [b for t, b in state.cooling if t <= now]
            state.cooling = [(t, b) for t, b in state.cooling if t > now]
            state.warm.extend(due)
            if due:
                self._cond.notify_all()
        used = next((s for s in self._states.values() if s.used), None)
        if used is None:
            return False
        state = used
        box = state.used.popleft()
        state.building += 1
        self._cond.release()
        try:
            self._backend.recycle(box)
            ok = True
        except SandboxError:
            ok = False
        finally:
            self._cond.acquire()
            state.building -= 1
        if ok:
            state.counters.reused += 1
            state.cooling.append((time.monotonic() + self.settings.cooldown_s, box))
        self._cond.notify_all()
        return True

    def _target(self, state: _FlavorState, in_flight: bool, answering: bool) -> int:
        """How many warm (or building) sandboxes ``state`` should have now."""
        if answering:
            return min(self.settings.min_warm, 1)
        if in_flight:
            return min(self.settings.min_warm, max(state.busy, 1))
        return self.settings.min_warm

    def _refill_loop(self) -> None:
        while True:
            with self._cond:
                todo = None
                while todo is None:
                    if self._closed:
                        return
                    if self._reuse():
                        continue
                    # A build takes CPU (and the GIL) from the runs in flight and from the
                    # answer of one that just ended. So while runs are in flight a flavor
                    # keeps only as many warm sandboxes as it has runs in flight (each will
                    # want a successor: under sustained load, waiting for a pause would
                    # leave requests to build their own), and for refill_delay_s after the
                    # last one ended (its answer is on its way out) just one; min_warm once
                    # all is quiet.
                    quiet_at = self._last_done + self.settings.refill_delay_s
                    in_flight = any(s.busy for s in self._states.values())
                    answering = not in_flight and time.monotonic() < quiet_at
                    todo = next((s for s in self._states.values()
                                 if len(s.warm) + s.building < self._target(s, in_flight,
                                                                            answering)
                                 and s.size < self.settings.max_size), None)
                    if todo is None:
                        cooling = [t for s in self._states.values() for t, _ in s.cooling]
                        wake = min([*cooling, quiet_at]) if cooling or answering else 0.0
                        wait = wake - time.monotonic() if wake else 1.0
                        self._cond.wait(min(max(wait, 0.001), 1.0))
                todo.building += 1
            try:
                box: WarmSandbox | None = self._build(todo.flavor)
            except SandboxError:
                box = None
            with self._cond:
                todo.building -= 1
                if box is None:
                    todo.counters.build_failures += 1
                    self._cond.wait(0.5)  # do not spin on a flavor that cannot be built
                else:
                    todo.counters.built += 1
                    todo.warm.append(box)
                self._cond.notify_all()
