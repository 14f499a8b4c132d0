"""Every model, imported once so that Alembic and the app see the whole schema."""

from membership.apikeys.models import ApiKey
from membership.mail.models import OutboxMessage
from membership.publications.models import Publication, StaffMember
from membership.readers.models import Reader
from membership.sessions.models import ReaderSession, RefreshToken
from membership.signin.models import SignInLink

__all__ = [
    "ApiKey",
    "OutboxMessage",
    "Publication",
    "Reader",
    "ReaderSession",
    "RefreshToken",
    "SignInLink",
    "StaffMember",
]
