"""A healthy service logs what matters: no line per request it sends, one access line per request served."""

from __future__ import annotations

import logging

import httpx
import pytest

from tollgate_common.logging import configure_logging


def test_requests_a_service_sends_are_not_logged_one_by_one(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    with httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200))) as client:
        for _ in range(3):  # as a revocation poll does every two seconds
            client.get("http://membership.test/api/entitlements/changes")
    assert "HTTP Request" not in capsys.readouterr().err


def test_an_httpx_warning_still_reaches_the_log(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    logging.getLogger("httpx").warning("connection pool is full")
    assert "connection pool is full" in capsys.readouterr().err
