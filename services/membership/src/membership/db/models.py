"""Every model, imported once so that Alembic and the app see the whole schema."""

from membership.apikeys.models import ApiKey
from membership.friendlinks.models import FriendLink
from membership.gifts.models import Gift
from membership.grants.models import EntitlementChange, Grant
from membership.mail.models import OutboxMessage
from membership.offers.models import Offer
from membership.plans.models import Price, Tier
from membership.publications.models import Publication, StaffMember
from membership.readers.models import Reader
from membership.retention.models import Cancellation
from membership.sessions.models import ReaderSession, RefreshToken
from membership.signin.models import SignInLink
from membership.stats.models import StatsSnapshot
from membership.stripe_events.models import StripeEvent
from membership.subscriptions.models import StripeCustomer, Subscription
from membership.tokens.models import SigningKey
from membership.unlocks.models import Unlock, UnlockQuota
from membership.webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage

__all__ = [
    "ApiKey",
    "Cancellation",
    "EntitlementChange",
    "FriendLink",
    "Gift",
    "Grant",
    "Offer",
    "OutboxMessage",
    "Price",
    "Publication",
    "Reader",
    "ReaderSession",
    "RefreshToken",
    "SignInLink",
    "SigningKey",
    "StaffMember",
    "StatsSnapshot",
    "StripeCustomer",
    "StripeEvent",
    "Subscription",
    "Tier",
    "Unlock",
    "UnlockQuota",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookMessage",
]
