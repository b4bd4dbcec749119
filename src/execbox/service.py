"""The parts of a running execbox, assembled from settings: sandbox backend, languages,
compile cache, warm pool, runner and scheduler. The API and the CLI build one of these and
pass it down; nothing reads a global."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from execbox.languages.registry import Registry
from execbox.pool import PoolSettings, WarmPool
from execbox.runner.compile_cache import CompileCache
from execbox.runner.runner import Runner, RunnerSettings
from execbox.sandbox.namespace_backend import NamespaceBackend
from execbox.sandbox.spec import SandboxSettings
from execbox.scheduler import EmbeddedScheduler, RunStore


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    pool: PoolSettings = field(default_factory=PoolSettings)
    warm_languages: tuple[str, ...] = ("python", "c", "cpp", "java", "javascript")
    concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)  # runs at once
    queue: int = 64  # runs waiting; more is 503 + Retry-After
    queue_timeout_s: float = 30.0
    max_body_bytes: int = 8 * 1024 * 1024
    cache_mb: int = 512
    api_keys: tuple[str, ...] = ()  # empty: no authentication (loopback use)


class Service:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.backend = NamespaceBackend(settings.sandbox)
        self.registry = Registry.load()
        cache = CompileCache(os.path.join(settings.sandbox.state_dir, "cache"),
                             max_bytes=settings.cache_mb * 1024 * 1024)
        self.runner = Runner(self.backend, self.registry, cache, settings=settings.runner)
        wanted = {f"{name}:{stage}" for name in settings.warm_languages
                  for stage in ("run", "compile")}
        flavors = {k: v for k, v in self.runner.flavors().items() if k in wanted}
        self.runner.pool = WarmPool(self.backend, settings.pool, flavors) if flavors else None
        self.scheduler = EmbeddedScheduler(settings.concurrency, settings.queue,
                                           settings.queue_timeout_s)
        self.runs = RunStore(os.path.join(settings.sandbox.state_dir, "runs.sqlite"))

    def ready(self) -> bool:
        """Every warm flavor has its minimum of sandboxes ready."""
        return self.runner.pool is None or self.runner.pool.wait_warm(0)

    def close(self) -> None:
        self.scheduler.close()
        self.runs.close()
        self.runner.close()
        self.backend.close()
