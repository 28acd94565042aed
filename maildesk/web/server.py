"""Run the web application under uvicorn, on loopback unless configured otherwise: alone
(`maildesk serve`) or beside the daemon in one process (`web.in_daemon`, `maildesk run`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Iterator

import uvicorn

from maildesk.config.settings import Config
from maildesk.web.app import create_app

log = logging.getLogger(__name__)


def _settings(config: Config, host: str | None = None, port: int | None = None,
              ) -> uvicorn.Config:
    # No access log: paths carry complaint codes, and the log is no place for them.
    return uvicorn.Config(create_app(config), host=host or config.web.host,
                          port=port or config.web.port, access_log=False,
                          proxy_headers=False, log_level="info")


def serve(config: Config, host: str | None = None, port: int | None = None) -> None:
    uvicorn.Server(_settings(config, host, port)).run()


class _BesideTheDaemon(uvicorn.Server):
    """The daemon owns SIGTERM and SIGHUP; this server stops when the daemon has stopped."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_beside(config: Config, daemon: Awaitable[int]) -> int:
    """Run `daemon` with the web server in the same event loop; the daemon's exit code.

    The socket is bound before the daemon starts, so a port already in use is an error at
    start-up rather than a web server that silently never came up. Every database read of
    the web pages runs in a worker thread, so a page never holds up intake or sending."""
    settings = _settings(config)
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
        # Listening at once: a browser that comes before uvicorn has started waits in the
        # backlog instead of being refused.
        sock.listen(128)
    except OSError as exc:
        sock.close()
        log.error("web: cannot listen on %s:%s: %s", settings.host, settings.port, exc.strerror)
        if asyncio.iscoroutine(daemon):
            daemon.close()
        return 1
    server = _BesideTheDaemon(settings)
    web = asyncio.create_task(server.serve(sockets=[sock]))
    log.info("web: serving on %s:%s beside the daemon", settings.host, settings.port)
    try:
        return await daemon
    finally:
        server.should_exit = True
        await web
        sock.close()
