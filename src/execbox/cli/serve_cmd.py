"""`execbox serve [--host H] [--port P] [--config FILE] [options]`: the HTTP service.

Binds 127.0.0.1:8000 by default. With --api-key-file (one key a line) every route but
/healthz and /readyz needs a key (Authorization: Bearer KEY, X-Api-Key: KEY, or Judge0's
X-Auth-Token: KEY). Binding beyond loopback without keys is refused unless
--allow-unauthenticated says so out loud.

--config FILE is TOML: the options below by their long names with "_" for "-" (host,
port, concurrency, queue, api_key_file, allow_unauthenticated, rate_limit, rate_burst,
key_concurrency, cors_origins (a list), shutdown_grace_s, judge0_auth_user_token_file),
and queue_timeout_s, max_body_bytes, cache_mb, warm_languages, runs_db; a [pool] table
(min_warm, max_size, max_uses, cooldown_s, max_age_s, acquire_timeout_s), a [sandbox]
table (uid_base, slots, cgroup_parent, cgroup_version, recycle_netns) and a [runner]
table (zygote_mode: "fork", the default, or "exec"). A flag on the command line wins over
the file. Relative paths in the file are relative to it.

On SIGTERM or SIGINT: stop accepting, answer queued requests 503, give running work
--shutdown-grace seconds, answer what is still running 503, leave unfinished async runs
queued for the next start, tear every sandbox down, exit 0.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import tomllib
from collections.abc import Callable
from typing import Any

from execbox.errors import ConfigError, ExecboxError

# the options a config file may set beside ServiceSettings' own fields
_SERVER_KEYS = {"host": str, "port": int, "api_key_file": str, "allow_unauthenticated": bool,
                "judge0_auth_user_token_file": str}
# ServiceSettings fields a config file may set, with their TOML types
_SERVICE_KEYS: dict[str, type] = {
    "concurrency": int, "queue": int, "queue_timeout_s": float, "max_body_bytes": int,
    "cache_mb": int, "warm_languages": list, "rate_limit": float, "rate_burst": int,
    "key_concurrency": int, "cors_origins": list, "shutdown_grace_s": float, "runs_db": str,
}
_TABLES: dict[str, dict[str, type]] = {
    "pool": {"min_warm": int, "max_size": int, "max_uses": int, "cooldown_s": float,
             "max_age_s": float, "acquire_timeout_s": float},
    "sandbox": {"uid_base": int, "slots": int, "cgroup_parent": str, "cgroup_version": str,
                "recycle_netns": bool},
    "runner": {"zygote_mode": str},
}
_PATHS = ("api_key_file", "judge0_auth_user_token_file", "runs_db")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the HTTP service", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE", help="settings in TOML (flags win over it)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--concurrency", type=int, help="runs at once (default: CPUs)")
    p.add_argument("--queue", type=int, help="runs waiting before 503 (default 64)")
    p.add_argument("--api-key-file", metavar="FILE", help="API keys, one per line")
    p.add_argument("--allow-unauthenticated", action="store_true", default=None,
                   help="allow a non-loopback --host without API keys")
    p.add_argument("--judge0-auth-user-token-file", metavar="FILE",
                   help="Judge0 X-Auth-User tokens, one per line (privileged Judge0 routes)")
    p.add_argument("--rate-limit", type=float, metavar="PER_S",
                   help="requests per second per client (API key, or address); 0: none")
    p.add_argument("--rate-burst", type=int, metavar="N",
                   help="requests a client may send at once above the rate (default: rate)")
    p.add_argument("--key-concurrency", type=int, metavar="N",
                   help="requests in progress per client; 0: no limit")
    p.add_argument("--cors-origin", action="append", dest="cors_origins", metavar="ORIGIN",
                   help="a browser origin allowed to call the API (repeatable; * for any)")
    p.add_argument("--shutdown-grace", type=float, dest="shutdown_grace_s", metavar="S",
                   help="on SIGTERM, seconds running work may still finish (default 30)")
    p.set_defaults(handler=run)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _typed(where: str, key: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: {key} must be a list of strings")
        return tuple(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        name = {int: "an integer", float: "a number", str: "a string",
                bool: "true or false"}.get(kind, kind.__name__)
        raise ConfigError(f"{where}: {key} must be {name}")
    return value


def load_config(path: str) -> dict[str, Any]:
    """A TOML config file as option names -> values (checked, paths made absolute)."""
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _TABLES:
            kinds = _TABLES[key]
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: {key} must be a table")
            unknown = sorted(set(value) - set(kinds))
            if unknown:
                raise ConfigError(f"{path}: unknown [{key}] settings: {', '.join(unknown)}")
            out[key] = {k: _typed(path, f"{key}.{k}", v, kinds[k]) for k, v in value.items()}
            continue
        kind = _SERVER_KEYS.get(key) or _SERVICE_KEYS.get(key)
        if kind is None:
            hint = " (keys go in files: api_key_file)" if key == "api_keys" else ""
            raise ConfigError(f"{path}: unknown setting {key!r}{hint}")
        value = _typed(path, key, value, kind)
        if key in _PATHS:
            value = os.path.join(os.path.dirname(os.path.abspath(path)), value)
        out[key] = value
    return out


def _tokens(path: str, what: str) -> tuple[str, ...]:
    try:
        with open(path) as f:
            tokens = tuple(line.strip() for line in f if line.strip())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    if not tokens:
        raise ConfigError(f"{path} holds no {what}")
    return tokens


def options(args: argparse.Namespace) -> dict[str, Any]:
    """The config file's settings, overridden by the flags given."""
    merged = load_config(args.config) if args.config else {}
    for key in ("host", "port", "concurrency", "queue", "api_key_file",
                "allow_unauthenticated", "judge0_auth_user_token_file", "rate_limit",
                "rate_burst", "key_concurrency", "cors_origins", "shutdown_grace_s"):
        value = getattr(args, key, None)
        if value is not None:
            merged[key] = tuple(value) if isinstance(value, list) else value
    return merged


def build_settings(args: argparse.Namespace) -> tuple[str, int, Any]:
    """(host, port, ServiceSettings) from the flags and the config file; refuses to serve
    beyond loopback without API keys unless allowed out loud."""
    from execbox.pool import PoolSettings
    from execbox.runner.runner import RunnerSettings
    from execbox.sandbox.cgroups import CgroupSettings
    from execbox.sandbox.spec import SandboxSettings
    from execbox.service import ServiceSettings

    opts = options(args)
    host = opts.pop("host", "127.0.0.1")
    port = opts.pop("port", 8000)
    keys = _tokens(opts.pop("api_key_file"), "API key") if "api_key_file" in opts else ()
    users_file = opts.pop("judge0_auth_user_token_file", None)
    users = _tokens(users_file, "Judge0 auth user token") if users_file else ()
    if not _loopback(host) and not keys and not opts.pop("allow_unauthenticated", False):
        raise ConfigError(f"refusing to serve on {host} without API keys: anyone who "
                          "can reach it could run code; give --api-key-file, use a loopback "
                          "address, or --allow-unauthenticated")
    opts.pop("allow_unauthenticated", None)
    try:
        if "pool" in opts:
            opts["pool"] = PoolSettings(**opts["pool"])
        if "runner" in opts:
            opts["runner"] = RunnerSettings(**opts["runner"])
        box = opts.pop("sandbox", {})
        cgroup = {k: box.pop(f"cgroup_{k}") for k in ("parent", "version")
                  if f"cgroup_{k}" in box}
        sandbox = SandboxSettings(state_dir=args.state_dir, cgroup=CgroupSettings(**cgroup),
                                  **box)
        settings = ServiceSettings(sandbox=sandbox, api_keys=keys,
                                   judge0_auth_user_tokens=users, **opts)
    except (ExecboxError, TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc
    return host, port, settings


def _server_class() -> Any:
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn's server, telling the app when it stops accepting (uvicorn itself only
        tells the lifespan after every request is done): runs are refused and the grace
        starts while requests in progress can still be answered."""

        def __init__(self, config: uvicorn.Config, on_shutdown: Callable[[], None]) -> None:
            super().__init__(config)
            self.on_shutdown = on_shutdown

        async def shutdown(self, sockets: Any = None) -> None:
            self.on_shutdown()
            await super().shutdown(sockets)

    return GracefulServer


def _ignore(_sig: int, _frame: Any) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    import logging.config

    import uvicorn

    from execbox.api import logs
    from execbox.api.app import create_app
    from execbox.api.forwarded import ForwardedHeaders
    from execbox.service import Service

    host, port, settings = build_settings(args)
    log_config = logs.configure()
    logging.config.dictConfig(log_config)
    service = Service(settings)
    # uvicorn answers SIGTERM/SIGINT with a graceful shutdown, then raises the signal again
    # for the handler it found: make that a no-op (the default would kill the process, or
    # raise KeyboardInterrupt, before the sandboxes are torn down below)
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        app = create_app(service)
        # httptools and uvloop (uvicorn's "standard" parts, C): ~0.4 ms less per request
        # than the pure-Python h11 and asyncio loop, measured with `execbox bench`
        config = uvicorn.Config(app, host=host, port=port, log_level="info",
                                log_config=log_config, http="httptools", loop="uvloop",
                                # one line per request all the same, once the answer is
                                # out (api/app.py: AccessLog)
                                access_log=False,
                                # uvicorn's middleware, for the requests that need it
                                # (api/forwarded.py); trusted: FORWARDED_ALLOW_IPS as ever
                                proxy_headers=False,
                                # no "server: uvicorn" in every answer: nothing needs it, and
                                # it tells a prober what runs here
                                server_header=False,
                                # a backstop: the app answers everything by the grace
                                timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 10)
        config.app = ForwardedHeaders(app, config.forwarded_allow_ips)
        _server_class()(config, app.state.shutdown.begin).run()
    finally:
        try:
            service.close()
        finally:
            for sig, handler in previous.items():
                if handler is not None:
                    signal.signal(sig, handler)
    logging.getLogger("execbox.api").info("stopped: every sandbox torn down")
    return 0
