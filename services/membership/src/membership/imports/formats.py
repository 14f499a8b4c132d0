"""Reading a member export (Ghost's, Substack's or a plain CSV) into rows, each with its line number.

The headers are compared after folding (lower case, anything but letters and digits becomes `_`),
so Substack's `Stripe customer ID` is `stripe_customer_id`. A cell that cannot be read (a date
that is not one) marks its row with the problem; the row is reported and skipped, the rest go on.
Whatever spoils the whole file (not UTF-8, no header, no email column, a format we cannot tell)
raises `BadRequest` before any row is looked at. docs/importing.md lists the columns.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from tollgate_common.problems import BadRequest

MAX_ROWS = 100_000


class Format(StrEnum):
    AUTO = "auto"
    GHOST = "ghost"
    SUBSTACK = "substack"
    PLAIN = "plain"


PLAIN_COLUMNS = ("email", "name", "tier", "stripe_customer_id", "comp_until", "signed_up_at")
GHOST_MARKS = frozenset({"complimentary_plan", "subscribed_to_emails", "labels"})
SUBSTACK_MARKS = frozenset({"subscription_type", "active_subscription"})
SUBSTACK_PAID = ("paid", "founding")
SUBSTACK_COMP = ("comp", "gift")


@dataclass(frozen=True)
class Row:
    """One member as the export describes them; `problem` set: skipped, for that reason."""

    line: int
    email: str
    name: str = ""
    tiers: tuple[str, ...] = ()  # the tiers a comp opens (names, as typed)
    comp: bool = False
    comp_until: datetime | None = None
    customer: str | None = None  # a Stripe customer id
    find_customer: bool = False  # paid, but the export names no customer: look for one by email
    signed_up_at: datetime | None = None
    problem: str = ""


def fold(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")


def parse(raw: bytes, chosen: Format = Format.AUTO) -> tuple[Format, list[Row]]:
    """The file's format (as chosen, or told from its header) and its rows."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest("The file is not UTF-8 text; export it again as a UTF-8 CSV.") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [fold(h) for h in next(reader, [])]
    if not any(header):
        raise BadRequest("The file is empty: a CSV export starts with a header line such as `email,name`.")
    if "email" not in header:
        raise BadRequest(f"The header has no `email` column (it has {', '.join(filter(None, header))}).")
    found = _format_of(header) if chosen is Format.AUTO else chosen
    if found is Format.PLAIN and (unknown := [h for h in header if h not in PLAIN_COLUMNS]):
        raise BadRequest(
            f"A plain CSV has only the columns {', '.join(PLAIN_COLUMNS)}; "
            f"this one also has {', '.join(unknown)}."
        )
    read = {Format.GHOST: _ghost, Format.SUBSTACK: _substack, Format.PLAIN: _plain}[found]
    rows: list[Row] = []
    line = reader.line_num + 1
    for cells in reader:
        if any(c.strip() for c in cells):
            if len(rows) == MAX_ROWS:
                raise BadRequest(
                    f"The file has more than {MAX_ROWS:,} members; split it and import each part."
                )
            values = {name: cell.strip() for name, cell in zip(header, cells, strict=False) if name}
            try:
                rows.append(read(line, values))
            except ValueError as exc:
                rows.append(Row(line, values.get("email", ""), problem=str(exc)))
        line = reader.line_num + 1
    return found, rows


def _format_of(header: list[str]) -> Format:
    columns = set(header)
    if columns & GHOST_MARKS:
        return Format.GHOST
    if columns & SUBSTACK_MARKS:
        return Format.SUBSTACK
    if columns <= set(PLAIN_COLUMNS) | {""}:
        return Format.PLAIN
    raise BadRequest(
        "This is not a Ghost or Substack export, nor a plain CSV "
        f"({', '.join(PLAIN_COLUMNS)}); choose its format, or rename its columns."
    )


def _ghost(line: int, v: dict[str, str]) -> Row:
    """Ghost: `complimentary_plan` true is a comp of `tiers`; a `stripe_customer_id` pays."""
    if v.get("deleted_at"):
        return Row(line, v.get("email", ""), problem=f"deleted in Ghost on {v['deleted_at']}")
    comp = v.get("complimentary_plan", "").lower() in ("true", "1", "yes")
    return Row(
        line,
        v.get("email", ""),
        name=v.get("name", ""),
        tiers=_names(v.get("tiers", "")) if comp else (),
        comp=comp,
        customer=v.get("stripe_customer_id") or None,
        signed_up_at=_moment(v.get("created_at", ""), "created_at"),
    )


def _substack(line: int, v: dict[str, str]) -> Row:
    """Substack: `subscription_type` free, paid or founding (paying), comp or gift (a comp)."""
    kind = v.get("subscription_type", "").lower()
    if not kind and "active_subscription" in v:
        kind = "paid" if v["active_subscription"].lower() in ("true", "1", "yes") else "free"
    paying, comp = kind.startswith(SUBSTACK_PAID), kind.startswith(SUBSTACK_COMP)
    customer = v.get("stripe_customer_id") or None
    return Row(
        line,
        v.get("email", ""),
        name=v.get("name", ""),
        comp=comp,
        comp_until=_until(v.get("expiry", ""), "expiry") if comp else None,
        customer=customer,
        find_customer=paying and customer is None,
        signed_up_at=_moment(v.get("created_at", ""), "created_at"),
    )


def _plain(line: int, v: dict[str, str]) -> Row:
    """Plain: a tier without a Stripe customer, or with `comp_until`, is a comp of that tier."""
    tiers, customer = _names(v.get("tier", "")), v.get("stripe_customer_id") or None
    until = _until(v.get("comp_until", ""), "comp_until")
    if until is not None and not tiers:
        raise ValueError("comp_until is given but no tier: name the tier the comp opens")
    return Row(
        line,
        v.get("email", ""),
        name=v.get("name", ""),
        tiers=tiers,
        comp=bool(tiers) and (customer is None or until is not None),
        comp_until=until,
        customer=customer,
        signed_up_at=_moment(v.get("signed_up_at", ""), "signed_up_at"),
    )


def _names(cell: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in cell.split(",") if n.strip())


def _moment(cell: str, column: str) -> datetime | None:
    """A date (midnight UTC) or a date and time (UTC unless it says otherwise)."""
    if not cell:
        return None
    try:
        if len(cell) == 10:
            return datetime.combine(date.fromisoformat(cell), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(cell.replace(" UTC", "").replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{column} “{cell[:40]}” is not a date such as 2024-01-31") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _until(cell: str, column: str) -> datetime | None:
    """A comp's last day lasts through that whole day (UTC), as in the dashboard's comp form."""
    moment = _moment(cell, column)
    if moment is not None and len(cell) == 10:
        return moment + timedelta(days=1)
    return moment
