"""Tollgate's client library, for the publisher's other services.

`TokenVerifier` checks membership's access tokens offline against its JWKS; `RevocationFeed`
follows membership's revocation feed so tokens with revoked entitlements stop working early;
`MembershipClient` asks membership directly (entitlements, access checks, member lists).
"""

from tollgate_client.client import (
    AccessDecision,
    BatchDecision,
    Change,
    ChangesPage,
    Entitlements,
    Grant,
    Member,
    MembershipClient,
    MembershipError,
    MembershipUnavailable,
)
from tollgate_client.revocations import RevocationFeed
from tollgate_client.verifier import (
    AccessClaims,
    BadSignature,
    InvalidToken,
    KeysUnavailable,
    MalformedToken,
    TokenExpired,
    TokenNotYetValid,
    TokenVerifier,
    UnknownKey,
    WrongAudience,
    WrongIssuer,
    WrongType,
)

__all__ = [
    "AccessClaims",
    "AccessDecision",
    "BadSignature",
    "BatchDecision",
    "Change",
    "ChangesPage",
    "Entitlements",
    "Grant",
    "InvalidToken",
    "KeysUnavailable",
    "MalformedToken",
    "Member",
    "MembershipClient",
    "MembershipError",
    "MembershipUnavailable",
    "RevocationFeed",
    "TokenExpired",
    "TokenNotYetValid",
    "TokenVerifier",
    "UnknownKey",
    "WrongAudience",
    "WrongIssuer",
    "WrongType",
]
