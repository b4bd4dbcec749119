"""Admission between the API and the runner: bounded, back-pressured, never a hang."""

from execbox.scheduler.embedded import EmbeddedScheduler, Overloaded
from execbox.scheduler.run_store import RunStore

__all__ = ["EmbeddedScheduler", "Overloaded", "RunStore"]
