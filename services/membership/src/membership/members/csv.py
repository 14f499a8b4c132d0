"""CSV cells for the exports (the API's members.csv and the dashboard's subscribers.csv)."""

from __future__ import annotations


def cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a leading quote."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
