"""Stripe's form encoding, and the declared parameters of each endpoint.

`parse_form` turns `a[b][c]=v`, `a[0]=x` (stripe-python's lists) and `a[]=x` into nested dicts
and lists of strings. A `Spec` then checks them the way Stripe does: an undeclared name is
`parameter_unknown`, a missing required one `parameter_missing`, and strings become the integers
and booleans the endpoint expects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from stripe_sandbox.errors import StripeError, invalid, missing_parameter, unknown_parameter

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
_APPEND = object()  # the `[]` of `a[]=x`: the next free index


def parse_form(raw: str | bytes) -> dict[str, Any]:
    """Nested params from a query string or an `application/x-www-form-urlencoded` body."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    root: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        match = _KEY.match(key)
        if not match:
            raise invalid(f"Invalid parameter name: {key}", param=key)
        parts: list[Any] = [match.group(1)]
        parts += [_APPEND if p == "" else p for p in _PART.findall(match.group(2))]
        _assign(root, parts, value, key)
    return _listify(root)  # type: ignore[no-any-return]


def parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    """A control endpoint's body: JSON or form, whichever the caller sent; empty is `{}`."""
    if not raw.strip():
        return {}
    if "json" in content_type:
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise invalid(f"The request body is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise invalid("The request body must be a JSON object.")
        return value
    return parse_form(raw)


def _assign(node: dict[str, Any], parts: list[Any], value: str, key: str) -> None:
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part is _APPEND:
            part = str(sum(1 for k in node if k.isdigit()))
        existing = node.get(part)
        if last:
            if isinstance(existing, dict):
                raise invalid(f"Invalid parameter: {key} is both a value and a hash", param=key)
            node[part] = value
            return
        if existing is None:
            existing = node[part] = {}
        elif not isinstance(existing, dict):
            raise invalid(f"Invalid parameter: {key} is both a value and a hash", param=key)
        node = existing


def _listify(node: Any) -> Any:
    # A hash whose keys are all indexes is a list, in index order.
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def _name(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if path else str(key)


class Field:
    """One declared parameter; `coerce` checks a value and converts it."""

    def coerce(self, value: Any, path: str) -> Any:
        raise NotImplementedError


class Str(Field):
    def __init__(self, *choices: str, nullable: bool = False, max_length: int = 5000) -> None:
        self.choices = choices
        self.nullable = nullable
        self.max_length = max_length

    def coerce(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            raise invalid(f"Invalid string: {path} must be a string", param=path)
        if value == "":
            if self.nullable:
                return None  # Stripe reads an empty string as "unset"
            raise StripeError(
                f"You passed an empty string for '{path}'. We assume empty values are an attempt to "
                f"unset a parameter; however '{path}' cannot be unset. You should remove '{path}' from "
                "your request or supply a non-empty value.",
                code="parameter_invalid_empty",
                param=path,
            )
        if self.choices and value not in self.choices:
            raise invalid(
                f"Invalid {path}: must be one of {', '.join(self.choices)}",
                code="parameter_invalid_string",
                param=path,
            )
        if len(value) > self.max_length:
            raise invalid(f"Invalid {path}: must be at most {self.max_length} characters", param=path)
        return value


class Int(Field):
    def __init__(
        self, minimum: int | None = None, maximum: int | None = None, nullable: bool = False
    ) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.nullable = nullable

    def coerce(self, value: Any, path: str) -> Any:
        if value == "" and self.nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise invalid(f"Invalid integer: {value}", code="parameter_invalid_integer", param=path)
        try:
            number = int(value)
        except ValueError:
            raise invalid(f"Invalid integer: {value}", code="parameter_invalid_integer", param=path) from None
        if self.minimum is not None and number < self.minimum:
            raise invalid(f"This value must be greater than or equal to {self.minimum}.", param=path)
        if self.maximum is not None and number > self.maximum:
            raise invalid(f"This value must be less than or equal to {self.maximum}.", param=path)
        return number


class Number(Field):
    """A non-negative number, integer or not (the sandbox controls take `days=0.5`)."""

    def coerce(self, value: Any, path: str) -> Any:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise invalid(f"Invalid number: {value}", param=path) from None
        if number < 0 or number != number:  # negative or NaN
            raise invalid(f"{path} must be a number of at least 0.", param=path)
        return number


class Bool(Field):
    def coerce(self, value: Any, path: str) -> Any:
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise invalid(f"Invalid boolean: {value}", code="parameter_invalid_boolean", param=path)


class Metadata(Field):
    """Up to 50 string keys; `metadata=` (empty) clears them all, `metadata[k]=` (empty) clears one."""

    def coerce(self, value: Any, path: str) -> Any:
        if value == "":
            return {}
        if isinstance(value, list):  # keys that are all digits were parsed as a list
            value = {str(i): v for i, v in enumerate(value)}
        if not isinstance(value, dict):
            raise invalid(f"Invalid hash: {path} must be a hash of string keys", param=path)
        if len(value) > 50:
            raise invalid("Metadata can have at most 50 keys.", param=path)
        for key, item in value.items():
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                raise invalid(f"Invalid value for {_name(path, key)}: must be a string", param=path)
            if len(str(key)) > 40 or len(str(item)) > 500:
                raise invalid("Metadata keys are at most 40 and values at most 500 characters.", param=path)
        return {str(k): str(v) for k, v in value.items()}


class Ignored(Field):
    """A real Stripe parameter the sandbox accepts and does not model (for instance `locale`)."""

    def coerce(self, value: Any, path: str) -> Any:
        return value


class ListOf(Field):
    def __init__(self, item: Field, max_items: int = 100) -> None:
        self.item = item
        self.max_items = max_items

    def coerce(self, value: Any, path: str) -> Any:
        if value == "":
            return []
        if isinstance(value, dict):
            # `a[x]=1` where a list was expected; Stripe names the odd key.
            raise invalid(f"Invalid array: {path} must be a list", param=path)
        items = value if isinstance(value, list) else [value]
        if len(items) > self.max_items:
            raise invalid(f"Invalid array: {path} has more than {self.max_items} items", param=path)
        return [self.item.coerce(item, _name(path, i)) for i, item in enumerate(items)]


class Obj(Field):
    """A hash of declared fields; `required` names the ones that must be present."""

    def __init__(self, fields: Mapping[str, Field], required: tuple[str, ...] = ()) -> None:
        self.fields = dict(fields)
        self.required = required

    def extend(self, fields: Mapping[str, Field]) -> Obj:
        return Obj({**self.fields, **fields}, self.required)

    def coerce(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise invalid(f"Invalid hash: {path or 'parameters'} must be a hash", param=path or None)
        out: dict[str, Any] = {}
        for key, item in value.items():
            field = self.fields.get(key)
            if field is None:
                raise unknown_parameter(_name(path, key))
            out[key] = field.coerce(item, _name(path, key))
        for key in self.required:
            if out.get(key) in (None, ""):
                raise missing_parameter(_name(path, key))
        return out


EXPAND = ListOf(Str(), max_items=100)
METADATA = Metadata()
IGNORED = Ignored()
# Every list endpoint also takes these; `created` filters like Stripe's range hashes.
RANGE = Obj({"gt": Int(), "gte": Int(), "lt": Int(), "lte": Int()})
LIST_PARAMS: dict[str, Field] = {
    "limit": Int(1, 100),
    "starting_after": Str(),
    "ending_before": Str(),
    "expand": EXPAND,
}


class CreatedFilter(Field):
    """`created=123` or `created[gte]=123`."""

    def coerce(self, value: Any, path: str) -> Any:
        if isinstance(value, dict):
            return RANGE.coerce(value, path)
        return {"eq": Int().coerce(value, path)}


CREATED = CreatedFilter()


def in_range(value: int, bounds: Mapping[str, int] | None) -> bool:
    if not bounds:
        return True
    checks = {
        "eq": lambda b: value == b,
        "gt": lambda b: value > b,
        "gte": lambda b: value >= b,
        "lt": lambda b: value < b,
        "lte": lambda b: value <= b,
    }
    return all(checks[op](bound) for op, bound in bounds.items())


class Nullable(Field):
    """A hash (or other value) that an empty string unsets, like `pause_collection=`."""

    def __init__(self, inner: Field) -> None:
        self.inner = inner

    def coerce(self, value: Any, path: str) -> Any:
        return None if value == "" else self.inner.coerce(value, path)
