"""Outgoing webhooks over the API: a publication's staff see its endpoints, their delivery log and
messages; owners add, change, disable, rotate the secret of, remove, and replay."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from membership.publications.access import staff_publication
from membership.publications.models import Publication
from membership.webhooks.models import WebhookEndpoint
from membership.webhooks.schemas import (
    AttemptOut,
    EndpointChange,
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    MessageOut,
    SecretOut,
)
from membership.webhooks.services import WebhookService
from tollgate_common.problems import BadRequest

STAFF = {"publication": staff_publication()}
OWNER = {"publication": staff_publication(owner=True)}
# Adding locks the publication's row, so two owners adding at once cannot pass the endpoint limit.
OWNER_LOCKED = {"publication": staff_publication(owner=True, lock=True)}
MAX_LOG = 500
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LOG, description=f"At most this many, up to {MAX_LOG}")]


def id_of(value: str, what: str) -> UUID:
    """A path's id as a UUID, or a 400 that says so (rather than the router's bare 404)."""
    try:
        return UUID(value)
    except ValueError as exc:
        raise BadRequest(
            f"“{value[:60]}” is not a {what} id: ids are UUIDs, as this API gives them."
        ) from exc


class PublicationWebhookApi(Controller):
    path = "/api/publications/{slug:str}/webhooks"
    tags = ["webhooks"]
    dependencies = STAFF

    async def _own(
        self, webhooks: WebhookService, publication: Publication, endpoint_id: str
    ) -> WebhookEndpoint:
        return await webhooks.endpoint(publication.id, id_of(endpoint_id, "webhook endpoint"))

    @get("/", summary="The publication's webhook endpoints (staff; no secrets)")
    async def list_endpoints(
        self, publication: NamedDependency[Publication], webhooks: NamedDependency[WebhookService]
    ) -> list[EndpointOut]:
        return [EndpointOut.of(e) for e in await webhooks.endpoints(publication.id)]

    @post(
        "/",
        dependencies=OWNER_LOCKED,
        summary="Add a webhook endpoint (owners only); its signing secret is shown once, in this answer",
    )
    async def add_endpoint(
        self,
        data: JSONBody[EndpointIn],
        publication: NamedDependency[Publication],
        webhooks: NamedDependency[WebhookService],
    ) -> EndpointCreated:
        endpoint, secret = await webhooks.add(publication.id, data.url, data.event_types, data.description)
        return EndpointCreated(endpoint=EndpointOut.of(endpoint), secret=secret)

    @get("/{endpoint_id:str}", summary="One webhook endpoint (staff; no secret)")
    async def get_endpoint(
        self,
        endpoint_id: FromPath[str],
        publication: NamedDependency[Publication],
        webhooks: NamedDependency[WebhookService],
    ) -> EndpointOut:
        return EndpointOut.of(await self._own(webhooks, publication, endpoint_id))

    @patch(
        "/{endpoint_id:str}",
        dependencies=OWNER,
        summary="Change a webhook endpoint's URL or event types, or disable or enable it (owners only)",
    )
    async def change_endpoint(
        self,
        endpoint_id: FromPath[str],
        data: JSONBody[EndpointChange],
        publication: NamedDependency[Publication],
        webhooks: NamedDependency[WebhookService],
    ) -> EndpointOut:
        endpoint = await self._own(webhooks, publication, endpoint_id)
        changed = await webhooks.change(
            endpoint, url=data.url, event_types=data.event_types, enabled=data.enabled
        )
        return EndpointOut.of(changed)

    @delete(
        "/{endpoint_id:str}",
        dependencies=OWNER,
        summary="Remove a webhook endpoint and its log (owners only)",
    )
    async def remove_endpoint(
        self,
        endpoint_id: FromPath[str],
        publication: NamedDependency[Publication],
        webhooks: NamedDependency[WebhookService],
    ) -> None:
        await webhooks.remove(await self._own(webhooks, publication, endpoint_id))

    @post(
        "/{endpoint_id:str}/rotate-secret",
        status_code=200,
        dependencies=OWNER,
        summary="A new signing secret, shown once; the old one still signs for 24 hours (owners only)",
    )
    async def rotate_secret(
        self,
        endpoint_id: FromPath[str],
        publication: NamedDependency[Publication],
        webhooks: NamedDependency[WebhookService],
    ) -> SecretOut:
        endpoint = await self._own(webhooks, publication, endpoint_id)
        secret = await webhooks.rotate(endpoint)
        return SecretOut(secret=secret, previous_valid_until=endpoint.previous_until)

    @get(
        "/{endpoint_id:str}/attempts", summary="A webhook endpoint's delivery log: its attempts, newest first"
    )
    async def attempts(
        self,
        endpoint_id: FromPath[str],
        publication: NamedDependency[Publication],
        webhooks: NamedDependency[WebhookService],
        limit: Limit = 100,
    ) -> list[AttemptOut]:
        endpoint = await self._own(webhooks, publication, endpoint_id)
        return [AttemptOut.of(a, m) for a, m in await webhooks.log(endpoint, limit=limit)]

    @get(
        "/{endpoint_id:str}/messages",
        summary="The messages for a webhook endpoint, newest first, with their state",
    )
    async def messages(
        self,
        endpoint_id: FromPath[str],
        publication: NamedDependency[Publication],
        webhooks: NamedDependency[WebhookService],
        limit: Limit = 100,
    ) -> list[MessageOut]:
        endpoint = await self._own(webhooks, publication, endpoint_id)
        return [MessageOut.of(m) for m in await webhooks.messages(endpoint, limit=limit)]

    @post(
        "/{endpoint_id:str}/messages/{message_id:str}/replay",
        status_code=202,
        dependencies=OWNER,
        summary="Send a message again now with the same webhook-id (owners only; the endpoint enabled)",
    )
    async def replay(
        self,
        endpoint_id: FromPath[str],
        message_id: FromPath[str],
        publication: NamedDependency[Publication],
        webhooks: NamedDependency[WebhookService],
    ) -> MessageOut:
        endpoint = await self._own(webhooks, publication, endpoint_id)
        return MessageOut.of(await webhooks.replay(endpoint, id_of(message_id, "message")))
