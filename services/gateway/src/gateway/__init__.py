"""Tollgate's gateway: the public origin readers talk to.

It serves the home page, forwards the reader-facing membership routes (sign-in, account, API,
JWKS) so the browser sees one origin, and reports its own health. Stories, their teasers and the
paywall arrive in a later step.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tollgate-gateway")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
