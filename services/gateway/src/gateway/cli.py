"""The `gateway` command: Litestar's CLI pointed at the gateway, so `gateway run` serves it.

Host and port default to the gateway's settings (`GATEWAY_HOST`, `GATEWAY_PORT`); the
`LITESTAR_*` variables and the command-line options still win.
"""

from __future__ import annotations

import os

from litestar.cli.main import litestar_group

from gateway.settings import Settings


def main() -> None:
    settings = Settings()
    os.environ.setdefault("LITESTAR_APP", "gateway.app:create_app")
    os.environ.setdefault("LITESTAR_HOST", settings.host)
    os.environ.setdefault("LITESTAR_PORT", str(settings.port))
    litestar_group(prog_name="gateway")
