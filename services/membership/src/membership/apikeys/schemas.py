"""API keys in the API: the secret appears once, in the answer to its creation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from membership.apikeys.models import ApiKey


class ApiKeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    scopes: Annotated[list[str], msgspec.Meta(max_length=20)]


class ApiKeyOut(msgspec.Struct):
    id: UUID
    name: str
    prefix: str
    scopes: list[str]
    publication_id: UUID | None
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, k: ApiKey) -> ApiKeyOut:
        return cls(
            id=k.id,
            name=k.name,
            prefix=k.key_prefix,
            scopes=list(k.scopes),
            publication_id=k.publication_id,
            created_at=k.created_at,
            revoked_at=k.revoked_at,
        )


class ApiKeyCreated(msgspec.Struct):
    key: ApiKeyOut
    secret: str
    detail: str = "Store this secret now: it is shown only once."
