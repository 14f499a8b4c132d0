"""The `stripe-sandbox` command: Litestar's CLI pointed at the sandbox, so `stripe-sandbox run` serves it.

Host and port default to the sandbox's settings (`STRIPE_SANDBOX_HOST`, `STRIPE_SANDBOX_PORT`);
the `LITESTAR_*` variables and the command-line options still win.
"""

from __future__ import annotations

import os

from litestar.cli.main import litestar_group

from stripe_sandbox.settings import Settings


def main() -> None:
    settings = Settings()
    os.environ.setdefault("LITESTAR_APP", "stripe_sandbox.app:create_app")
    os.environ.setdefault("LITESTAR_HOST", settings.host)
    os.environ.setdefault("LITESTAR_PORT", str(settings.port))
    litestar_group(prog_name="stripe-sandbox")
