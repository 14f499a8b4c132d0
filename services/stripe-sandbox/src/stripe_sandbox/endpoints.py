"""The building block of the API's route table: an endpoint is a method, a path, its parameters and a handler.

Each resource module declares its endpoints with `router(ROUTES)`; the dispatcher in `api.py`
matches the URL, checks the parameters against the declaration and calls the handler with the
state, the parameters and the ids from the path. A list endpoint's handler returns a `Page` of
every matching object, newest first, and the dispatcher cuts it to `limit` and the cursors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stripe_sandbox.forms import CREATED, EXPAND, LIST_PARAMS, Field, Obj

Handler = Callable[..., Any]


@dataclass(frozen=True)
class Page:
    """Every object a list endpoint matched, newest first, and the list's own URL."""

    items: list[dict[str, Any]]
    url: str


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    params: Obj
    listing: bool = False
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))


def router(
    table: list[Endpoint],
) -> Callable[..., Callable[[Handler], Handler]]:
    """`@route("POST", "/v1/customers", {"email": Str()}, required=("name",))` adds to `table`."""

    def route(
        method: str,
        path: str,
        fields: Mapping[str, Field] | None = None,
        *,
        required: tuple[str, ...] = (),
        listing: bool = False,
    ) -> Callable[[Handler], Handler]:
        declared: dict[str, Field] = {"expand": EXPAND, **(fields or {})}
        if listing:
            declared = {**LIST_PARAMS, "created": CREATED, **declared}

        def register(handler: Handler) -> Handler:
            table.append(Endpoint(method, path, handler, Obj(declared, required), listing))
            return handler

        return register

    return route
