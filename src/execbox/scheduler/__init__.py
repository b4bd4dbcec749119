"""Admission between the API and the runner: bounded, fair across clients, back-pressured,
never a hang."""

from execbox.scheduler.broker import Broker, Overloaded, ShuttingDown, current_client
from execbox.scheduler.embedded import EmbeddedScheduler
from execbox.scheduler.run_store import RunStore

__all__ = ["Broker", "EmbeddedScheduler", "Overloaded", "RunStore", "ShuttingDown",
           "current_client"]
