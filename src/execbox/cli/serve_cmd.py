"""`execbox serve [--host H] [--port P]`: the HTTP service (native API v1).

Binds 127.0.0.1:8000 by default. With --api-key-file (one key a line) every route but
/healthz and /readyz needs a key (Authorization: Bearer KEY, X-Api-Key: KEY, or Judge0's
X-Auth-Token: KEY). Binding beyond loopback without keys is refused unless
--allow-unauthenticated says so out loud.
"""

from __future__ import annotations

import argparse
import ipaddress
from typing import Any

from execbox.errors import ConfigError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the HTTP service", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--concurrency", type=int, default=None, help="runs at once (default: CPUs)")
    p.add_argument("--queue", type=int, default=64, help="runs waiting before 503")
    p.add_argument("--api-key-file", metavar="FILE", help="API keys, one per line")
    p.add_argument("--allow-unauthenticated", action="store_true",
                   help="allow a non-loopback --host without API keys")
    p.set_defaults(handler=run)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    import logging.config

    import uvicorn

    from execbox.api import logs
    from execbox.api.app import create_app
    from execbox.sandbox.spec import SandboxSettings
    from execbox.service import Service, ServiceSettings

    keys: tuple[str, ...] = ()
    if args.api_key_file:
        with open(args.api_key_file) as f:
            keys = tuple(line.strip() for line in f if line.strip())
        if not keys:
            raise ConfigError(f"{args.api_key_file} holds no API key")
    if not _loopback(args.host) and not keys and not args.allow_unauthenticated:
        raise ConfigError(f"refusing to serve on {args.host} without API keys: anyone who "
                          "can reach it could run code; give --api-key-file, use a loopback "
                          "address, or --allow-unauthenticated")
    settings = ServiceSettings(sandbox=SandboxSettings(state_dir=args.state_dir),
                               queue=args.queue, api_keys=keys,
                               **({"concurrency": args.concurrency} if args.concurrency else {}))
    log_config = logs.configure()
    logging.config.dictConfig(log_config)
    service = Service(settings)
    try:
        uvicorn.run(create_app(service), host=args.host, port=args.port, log_level="info",
                    log_config=log_config)
    finally:
        service.close()
    return 0
