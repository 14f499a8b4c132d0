"""Tollgate's client library, for the publisher's other services.

`TokenVerifier` checks membership's access tokens offline against its JWKS; `RevocationFeed`
follows membership's revocation feed so tokens with revoked entitlements stop working early;
`MembershipClient` asks membership directly (entitlements, access checks, member lists, and
what a gateway needs: token renewal, checkout confirmation, free unlocks, friend links, the tiers
on offer, an offer by its code).
"""

from tollgate_client.client import (
    AccessDecision,
    BatchDecision,
    Change,
    ChangesPage,
    CheckoutState,
    Entitlements,
    FriendLink,
    FriendLinkCreated,
    Grant,
    Member,
    MembershipClient,
    MembershipDown,
    MembershipError,
    MembershipRefused,
    MembershipUnavailable,
    Offer,
    OfferPrice,
    Promotion,
    PromotionPrice,
    Publication,
    RenewedToken,
    UnlockOutcome,
    UnlockStatus,
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
    "CheckoutState",
    "Entitlements",
    "FriendLink",
    "FriendLinkCreated",
    "Grant",
    "InvalidToken",
    "KeysUnavailable",
    "MalformedToken",
    "Member",
    "MembershipClient",
    "MembershipDown",
    "MembershipError",
    "MembershipRefused",
    "MembershipUnavailable",
    "Offer",
    "OfferPrice",
    "Promotion",
    "PromotionPrice",
    "Publication",
    "RenewedToken",
    "RevocationFeed",
    "TokenExpired",
    "TokenNotYetValid",
    "TokenVerifier",
    "UnknownKey",
    "UnlockOutcome",
    "UnlockStatus",
    "WrongAudience",
    "WrongIssuer",
    "WrongType",
]
