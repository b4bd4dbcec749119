"""Admission between the API and the runner: bounded, back-pressured, never a hang."""

from execbox.scheduler.embedded import EmbeddedScheduler, Overloaded

__all__ = ["EmbeddedScheduler", "Overloaded"]
