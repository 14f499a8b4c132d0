"""`--pinned-date`: run the tests as if the session had started at another moment.

`pytest --pinned-date=2027-01-31T23:59:30Z tests/membership` travels (time-machine, in-process, the
clock ticking on from there) to that moment when the session starts and back when it ends, so
anyone can check that the suite holds on a 1st, a 31st, a 29 February or the last seconds of a
year. Only this process moves: services started as subprocesses (tests/e2e) keep the real date,
and so do the databases' own clocks (our code passes Python-side times, never the server's now()).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

_TRAVEL = pytest.StashKey[time_machine.travel]()
_MOMENT = pytest.StashKey[datetime]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--pinned-date",
        metavar="MOMENT",
        default=None,
        help="start the session at this ISO 8601 moment with a timezone (e.g. 2027-01-31T23:59:30Z); "
        "the clock ticks on from there",
    )


def parse_moment(value: str) -> datetime:
    """An aware moment from ISO 8601; a moment without a timezone is refused, not guessed."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise pytest.UsageError(f"--pinned-date: {value!r} is not an ISO 8601 moment") from exc
    if moment.tzinfo is None:
        raise pytest.UsageError(f"--pinned-date: {value!r} has no timezone; add Z for UTC")
    return moment.astimezone(UTC)


def pytest_configure(config: pytest.Config) -> None:
    value = config.getoption("pinned_date")
    if not value:
        return
    moment = parse_moment(value)
    travel = time_machine.travel(moment, tick=True)
    travel.start()
    config.stash[_TRAVEL] = travel
    config.stash[_MOMENT] = moment


def pytest_unconfigure(config: pytest.Config) -> None:
    travel = config.stash.get(_TRAVEL, None)
    if travel is not None:
        travel.stop()
        del config.stash[_TRAVEL]


def pytest_report_header(config: pytest.Config) -> str | None:
    moment = config.stash.get(_MOMENT, None)
    return f"pinned date: the session starts at {moment.isoformat()}" if moment else None
