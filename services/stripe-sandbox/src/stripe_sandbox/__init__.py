"""Tollgate's Stripe sandbox: a local, stateful stand-in for the parts of Stripe that membership uses.

For development and tests only: no real card is charged and no money moves. The real stripe-python
SDK talks to it over HTTP; it keeps its own clock and sends correctly signed webhooks.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tollgate-stripe-sandbox")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

API_VERSION = "2026-10-28.endive"
"""The Stripe API version whose object shapes the sandbox serves (stripe-python 16 pins it)."""
