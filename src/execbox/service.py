"""The parts of a running execbox, assembled from settings: sandbox backend, languages,
compile cache, warm pool, runner and scheduler. The API and the CLI build one of these and
pass it down; nothing reads a global."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from execbox.errors import ConfigError, SandboxSetupError
from execbox.languages.registry import Registry
from execbox.pool import PoolSettings, WarmPool
from execbox.runner.compile_cache import CompileCache
from execbox.runner.runner import Runner, RunnerSettings
from execbox.sandbox.namespace_backend import NamespaceBackend
from execbox.sandbox.spec import SandboxSettings
from execbox.scheduler import Broker, EmbeddedScheduler, RunStore


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
    # Judge0's authorization tokens (X-Auth-User): its privileged routes (POST /authorize,
    # GET /submissions, DELETE /submissions/TOKEN) need one; empty: they are always 403
    judge0_auth_user_tokens: tuple[str, ...] = ()
    # per client (an API key, or the remote address without keys); 0: no limit
    rate_limit: float = 0.0  # requests per second, sustained
    rate_burst: int = 0  # requests at once above that rate (0: the rate, at least 1)
    key_concurrency: int = 0  # requests in progress at once
    cors_origins: tuple[str, ...] = ()  # browser origins allowed (CORS); "*" for any
    shutdown_grace_s: float = 30.0  # on SIGTERM: how long running work may still finish
    runs_db: str = ""  # async runs and Judge0 submissions; default <state_dir>/runs.sqlite

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.queue < 0:
            raise ConfigError("concurrency must be at least 1 and queue at least 0")
        if self.queue_timeout_s <= 0 or self.shutdown_grace_s < 0:
            raise ConfigError("queue_timeout_s must be positive, shutdown_grace_s not negative")
        if self.rate_limit < 0 or self.rate_burst < 0 or self.key_concurrency < 0:
            raise ConfigError("rate_limit, rate_burst and key_concurrency cannot be negative")
        if self.max_body_bytes < 1:
            raise ConfigError("max_body_bytes must be positive")
        if any(not key for key in (*self.api_keys, *self.judge0_auth_user_tokens)):
            raise ConfigError("an API key or Judge0 auth user token cannot be empty")

    @property
    def runs_path(self) -> str:
        return self.runs_db or os.path.join(self.sandbox.state_dir, "runs.sqlite")


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
        flavors = {k: v for k, v in self.runner.flavors(
            reused=settings.pool.max_uses > 1).items() if k in wanted}
        if any(f.inprocess for f in flavors.values()):
            try:  # a clear start-up error rather than every Python run failing later
                self.backend.native_paths()
            except SandboxSetupError as exc:
                self.backend.close()
                raise ConfigError(f"{exc}; or set [runner] zygote_mode = \"exec\"") from exc
        self.runner.pool = WarmPool(self.backend, settings.pool, flavors) if flavors else None
        self.scheduler: Broker = EmbeddedScheduler(settings.concurrency, settings.queue,
                                                   settings.queue_timeout_s)
        self.runs = RunStore(settings.runs_path)

    def ready(self) -> bool:
        """Not draining, and every warm flavor has its minimum of sandboxes ready."""
        if self.scheduler.draining:
            return False
        return self.runner.pool is None or self.runner.pool.wait_warm(0)

    def close(self) -> None:
        """Wait for the runs still executing (each ends at its limits, or sooner when its
        caller set its stop), then tear every sandbox down: the warm pool's, the reaper's
        pending teardowns, the spawners."""
        self.scheduler.close()
        self.runs.close()
        self.runner.close()
        self.backend.close()
