"""The HTTP server: uvicorn configured from the settings, with the limits of http_protocol.

Per worker: at most HTTP_MAX_CONNECTIONS open connections serve requests (a request beyond
them gets 503), an idle keep-alive connection is closed after HTTP_KEEPALIVE_TIMEOUT_S, and
LimitedHttpToolsProtocol enforces the header size, header count, header and body timeouts.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from backend.core.config import Settings
from backend.core.http_protocol import HttpLimits, LimitedHttpToolsProtocol

APP = "backend.main:app"
STARTUP_FAILURE = 3  # uvicorn's exit status when the server did not start


class ServerConfig(uvicorn.Config):
    """uvicorn's Config carrying the HttpLimits, so they reach spawned workers with it."""

    def __init__(self, app: Any, *, http_limits: HttpLimits, **options: Any) -> None:
        super().__init__(app, **options)
        self.http_limits = http_limits


def uvicorn_config(
    settings: Settings,
    app: str = APP,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    **options: Any,
) -> ServerConfig:
    """The server's Config; `options` are further uvicorn.Config arguments (log_level...)."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    return ServerConfig(
        app,
        http_limits=HttpLimits.from_settings(settings),
        host=host,
        port=port,
        workers=workers,
        http=LimitedHttpToolsProtocol,
        limit_concurrency=settings.http_max_connections,
        # The app reads no client address (rate limits and logs go by key and request id):
        # X-Forwarded-* headers are neither trusted nor parsed, one layer less per request.
        proxy_headers=False,
        # uvicorn annotates it int; it is handed to loop.call_later, which takes a float.
        timeout_keep_alive=settings.http_keepalive_timeout_s,
        **options,
    )


def serve(config: uvicorn.Config) -> None:
    """Run the server as `uvicorn.run` would: in this process, or in `workers` processes."""
    if config.workers > 1 and not isinstance(config.app, str):
        raise ValueError("several workers need the app as an import string")
    server = uvicorn.Server(config=config)
    try:
        if config.workers > 1:
            sockets = [config.bind_socket()]
            if "target" in inspect.signature(Multiprocess).parameters:
                # Older uvicorn releases (0.30 among them, the lowest pyproject allows) run a
                # given target in each worker, as uvicorn.run passes the server's run; newer
                # ones build each worker's server themselves.
                Multiprocess(config, target=server.run, sockets=sockets).run()  # type: ignore[call-arg]
            else:
                Multiprocess(config, sockets=sockets).run()
        else:
            server.run()
    except KeyboardInterrupt:
        pass
    finally:
        if config.uds and os.path.exists(config.uds):
            os.remove(config.uds)
    if not server.started and config.workers == 1:
        raise SystemExit(STARTUP_FAILURE)
