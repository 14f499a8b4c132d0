"""The `gateway` command: Litestar's CLI pointed at the gateway, so `gateway run` serves it, and
`gateway stories sync` brings stories from Ghost, WordPress or a folder (`stories/sources/command.py`).

Host and port default to the gateway's settings (`GATEWAY_HOST`, `GATEWAY_PORT`); the
`LITESTAR_*` variables and the command-line options still win.
"""

from __future__ import annotations

import os
import sys

from litestar.cli.main import litestar_group
from pydantic import ValidationError

from gateway.settings import Settings
from gateway.stories.sources.command import stories


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        # One sentence per problem, not a traceback: these are the operator's settings.
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            print(f"gateway: {where + ': ' if where else ''}{error['msg']}", file=sys.stderr)
        raise SystemExit(1) from None
    os.environ.setdefault("LITESTAR_APP", "gateway.app:create_app")
    os.environ.setdefault("LITESTAR_HOST", settings.host)
    os.environ.setdefault("LITESTAR_PORT", str(settings.port))
    litestar_group.add_command(stories)
    litestar_group(prog_name="gateway")
