"""Run the web application under uvicorn, on loopback unless configured otherwise."""

from __future__ import annotations

import uvicorn

from maildesk.config.settings import Config
from maildesk.web.app import create_app


def serve(config: Config, host: str | None = None, port: int | None = None) -> None:
    app = create_app(config)
    # No access log: paths carry complaint codes, and the log is no place for them.
    uvicorn.run(app, host=host or config.web.host, port=port or config.web.port,
                access_log=False, proxy_headers=False, log_level="info")
