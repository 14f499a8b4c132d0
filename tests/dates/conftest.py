"""Fixtures for the date tests: the Stripe sandbox's (in-process, real SDK, real webhooks) and the
billing stack's (membership and the sandbox over real HTTP)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.membership.conftest import running_stack, stack
from tests.sandbox.conftest import make_sandbox, receiver, sandbox

__all__ = ["make_sandbox", "receiver", "running_stack", "sandbox", "stack"]

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # stripe-python's HTTPXClient posts bytes as `data=`, which httpx deprecates; not ours to fix.
    quiet = pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(quiet)
