"""A backend that runs nothing: for tests of the layers above that need no root.

It records every spec it is given and answers with ``responder(spec)``; the default
responder echoes stdin to stdout with status ok, which is enough to drive a pool or an API.
"""

from __future__ import annotations

from collections.abc import Callable

from execbox.sandbox.interaction import Interaction
from execbox.sandbox.spec import SandboxSpec
from execbox.types import StageResult, Status


def echo(spec: SandboxSpec) -> StageResult:
    return StageResult(status=Status.OK, exit_code=0, stdout=spec.stdin[: spec.limits.output_bytes])


class FakeBackend:
    name = "fake"

    def __init__(self, responder: Callable[[SandboxSpec], StageResult] = echo) -> None:
        self.responder = responder
        self.specs: list[SandboxSpec] = []
        self.closed = False

    def run(self, spec: SandboxSpec, interaction: Interaction | None = None) -> StageResult:
        if interaction is not None:
            raise NotImplementedError("the fake backend runs nothing interactively")
        self.specs.append(spec)
        return self.responder(spec)

    def close(self) -> None:
        self.closed = True
