"""Access lines written off the request path (`access_lines`) are the lines structlog wrote in the request."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
import structlog

from tollgate_common.logging import AccessLines, access_lines, access_log, configure_logging

EXTRA = {"story": "night-press", "access": "full", "reason": "entitled"}


def _through_structlog(capsys: pytest.CaptureFixture[str]) -> str:
    # What RequestContextMiddleware writes for the same request, in the request.
    structlog.contextvars.bind_contextvars(request_id="same-id")
    try:
        access_log.info(
            "request",
            method="GET",
            path="/stories/night-press",
            status=200,
            duration_ms=round(0.0123456 * 1000, 2),
            client="127.0.0.1",
            **EXTRA,
        )
    finally:
        structlog.contextvars.clear_contextvars()
    return capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_queued_line_is_the_line_structlog_writes(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", fmt)  # type: ignore[arg-type]
    try:
        before = _through_structlog(capsys)
        record = (
            time.time_ns(),
            "GET",
            "/stories/night-press",
            200,
            0.0123456,
            "127.0.0.1",
            EXTRA,
            "same-id",
        )
        queued = AccessLines().render(record)
    finally:
        configure_logging("WARNING", "console")
    # The same keys in the same order and the same words; only the moment differs.
    if fmt == "json":
        ours, theirs = json.loads(queued), json.loads(before)
        assert list(ours) == list(theirs)
        assert {**ours, "timestamp": ""} == {**theirs, "timestamp": ""}
    else:
        assert queued.split(" ", 1)[1] == before.split(" ", 1)[1]
    assert queued.endswith("\n") and queued.count("\n") == 1


def test_the_time_is_structlogs_iso_form() -> None:
    lines = AccessLines()
    assert lines._iso(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456Z"
    assert lines._iso(1_700_000_000_000_000_999) == "2023-11-14T22:13:20Z"  # no fraction, as isoformat()


def test_lines_are_written_by_the_thread_and_flush_waits_for_them(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    try:
        for n in range(50):
            access_lines.put((time.time_ns(), "GET", f"/n/{n}", 200, 0.001, None, None, f"flush-{n}"))
        access_lines.flush()
    finally:
        configure_logging("WARNING", "console")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "flush-" in line]
    assert [line["request_id"] for line in lines] == [f"flush-{n}" for n in range(50)]
    assert all(line["logger"] == "tollgate.access" and line["level"] == "info" for line in lines)


def test_below_info_no_line_is_queued(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", "json")
    access_lines.put((time.time_ns(), "GET", "/quiet", 200, 0.001, None, None, "quiet-line"))
    access_lines.flush()
    logging.getLogger().setLevel(logging.WARNING)
    assert "quiet-line" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),  # the year's last microsecond
        datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC),  # a whole second: no fraction, as structlog writes it
        datetime(2028, 2, 29, 12, 30, 0, 1, tzinfo=UTC),  # a leap day
        datetime(2027, 3, 31, 23, 59, 59, 500_000, tzinfo=UTC),  # a month's end
        datetime(2027, 4, 1, 0, 0, 0, 250_000, tzinfo=UTC),
        datetime(2027, 4, 9, 8, 7, 6, 54_321, tzinfo=UTC),
    ],
)
def test_the_timestamp_is_the_moment_on_any_date(moment: datetime) -> None:
    lines = AccessLines()
    ns = int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
    # The date and time of day are kept for a second: a line a second earlier must not reuse them.
    earlier = moment - timedelta(seconds=1)
    for at, when in ((ns - 1_000_000_000, earlier), (ns, moment), (ns - 1_000_000_000, earlier)):
        stamp = lines._iso(at)
        assert stamp.endswith("Z")
        assert datetime.fromisoformat(stamp.removesuffix("Z") + "+00:00") == when
        assert ("." in stamp) is (when.microsecond != 0)
