"""An interactive run: the program compiled like any (sandboxed, cached), then run in a
fresh cold sandbox whose stdin, output and signals go through an ``Interaction``.

Cold, not from the warm pool: a warm sandbox's stdin is made from its order, and an
interactive session is long-lived anyway. A request that gives no wall-time limit gets
the server's cap (a person types slower than a program runs).
"""

from __future__ import annotations

from dataclasses import replace

from execbox.runner.runner import Prepared, Runner
from execbox.sandbox.interaction import Interaction
from execbox.sandbox.spec import SandboxSpec
from execbox.types import StageResult


def run_interactive(runner: Runner, prepared: Prepared, interaction: Interaction,
                    pty: tuple[int, int] | None = None, wall_given: bool = True,
                    ) -> StageResult:
    """Run a prepared (compiled) program interactively; blocks until it ends."""
    limits = prepared.limits
    if not wall_given:
        limits = replace(limits, wall_time_ms=runner.settings.run_caps.wall_time_ms)
    spec = SandboxSpec(argv=prepared.argv, files=prepared.files, env=prepared.env,
                       limits=limits, mounts=prepared.language.mounts, interactive=True,
                       pty=pty)
    return runner.backend.run(spec, interaction)
