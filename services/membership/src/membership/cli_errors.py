"""One sentence for the command line when Stripe or the database can't be reached, never a traceback.

Each sentence says what is wrong and what to set.
"""

from __future__ import annotations

import stripe
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from membership.settings import Settings


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def explain(exc: BaseException, settings: Settings) -> str | None:
    """The sentence for an unreachable Stripe or database behind `exc`; None for anything else."""
    for cause in _causes(exc):
        if isinstance(cause, stripe.APIConnectionError):
            if settings.stripe_sandboxed:
                return (
                    f"Cannot reach the Stripe sandbox at {settings.stripe_sandbox_url}: "
                    "start `make run`, or set MEMBERSHIP_STRIPE_SANDBOX_URL."
                )
            return "Cannot reach Stripe: check this machine's connection to api.stripe.com."
        # Only a database that cannot be reached or used; a refused write (a duplicate) has its own message.
        if isinstance(cause, (OperationalError, ConnectionError)) or (
            isinstance(cause, DBAPIError)
            and not isinstance(cause, IntegrityError)
            and cause.connection_invalidated
        ):
            url = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
            reason = str(getattr(cause, "orig", None) or cause).splitlines()[0]
            return (
                f"Cannot use the database at {url} ({reason}): start `make run` or run "
                "`membership database upgrade`, or set MEMBERSHIP_DATABASE_URL or MEMBERSHIP_DATA_DIR."
            )
    return None
