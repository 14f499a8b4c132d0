"""Finding and creating readers; the one place an email address is normalised."""

from __future__ import annotations

from uuid import UUID

from advanced_alchemy import repository, service
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import IntegrityError

from membership.readers.models import Reader
from tollgate_common.problems import BadRequest, NotFound


def normalise_email(raw: str) -> str:
    """The form we store and compare: validated, then lower-cased whole (uniqueness ignores case)."""
    try:
        checked = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise BadRequest(f"That email address is not valid: {exc}") from exc
    return checked.normalized.lower()


class ReaderService(service.SQLAlchemyAsyncRepositoryService[Reader]):
    class Repo(repository.SQLAlchemyAsyncRepository[Reader]):
        model_type = Reader

    repository_type = Repo

    async def get_or_create(self, email: str, display_name: str = "") -> tuple[Reader, bool]:
        """Two first sign-ins racing for one email end with one reader, not an error."""
        email = normalise_email(email)
        if (found := await self.get_one_or_none(email=email)) is not None:
            return found, False
        try:
            async with self.repository.session.begin_nested():
                created = await self.create(
                    Reader(email=email, display_name=display_name or email.split("@")[0])
                )
        except IntegrityError:
            return await self.get_one(email=email), False
        return created, True

    async def require(self, reader_id: UUID) -> Reader:
        if (found := await self.get_one_or_none(id=reader_id)) is None:
            raise NotFound("No such reader.")
        return found
