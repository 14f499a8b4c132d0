"""Webhooks: the publication's endpoints (where Tollgate posts its events), each with its state and
delivery log; owners add one, rotate its secret, disable or enable it, delete it, and replay a
message. A signing secret is on the answer to the form that made it, once (a page that is not
stored, never a link or a notice cookie), as an API key's is on Staff and keys."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from membership.publications.access import staff_publication
from membership.publications.models import Publication, StaffRole
from membership.publications.services import PublicationService
from membership.readers.models import Reader
from membership.settings import Settings
from membership.web.dashboard.pages import DashboardSection, base_of, done, id_of, page
from membership.web.guards import same_origin
from membership.webhooks.events import EventType
from membership.webhooks.models import MessageState, WebhookAttempt, WebhookEndpoint, WebhookMessage
from membership.webhooks.schemas import MAX_DESCRIPTION, EndpointIn
from membership.webhooks.sender import MAX_URL_LENGTH
from membership.webhooks.services import WebhookService
from tollgate_common.problems import BadRequest, TollgateError
from tollgate_common.words import day_and_time, stamp

OWNER = {"publication": staff_publication(owner=True)}
# Adding locks the publication's row, as the API does, so the endpoint limit holds.
OWNER_LOCKED = {"publication": staff_publication(owner=True, lock=True)}
LOG_ROWS = 25  # per endpoint; the API's delivery log goes back further
EXCERPT_CHARS = 200
EVENTS: dict[str, str] = {
    EventType.MEMBER_CREATED: "A reader becomes a member",
    EventType.MEMBER_UPDATED: "A member's details change",
    EventType.MEMBER_STATE_CHANGED: "A member's access changes (their state when it is sent)",
    EventType.ENTITLEMENT_GRANTED: "A reader is given one of the publication's keys",
    EventType.ENTITLEMENT_REVOKED: "A reader's key ends or is taken back",
    EventType.SUBSCRIPTION_UPDATED: "A subscription starts, renews, changes or ends",
    EventType.GIFT_REDEEMED: "A gift is redeemed",
    EventType.OFFER_REDEEMED: "An offer is taken",
}


def _text(form: FormMultiDict, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _ticked(form: FormMultiDict) -> list[str]:
    return [t for t in form.getall("event_types") if isinstance(t, str)] if "event_types" in form else []


def read_endpoint(form: FormMultiDict) -> EndpointIn:
    """The add form as the API's EndpointIn, or a sentence on what is wrong; the URL itself and
    the event types are checked by the service, as for the API."""
    url, description = _text(form, "url"), _text(form, "description")
    if not url:
        raise BadRequest("Give the URL to send webhooks to, such as https://example.com/webhooks.")
    if len(url) > MAX_URL_LENGTH:
        raise BadRequest(f"Webhook URLs may be at most {MAX_URL_LENGTH} characters long.")
    if len(description) > MAX_DESCRIPTION:
        raise BadRequest(f"The description is at most {MAX_DESCRIPTION} characters.")
    try:  # the API's own schema, so the form can do nothing the API refuses
        return msgspec.convert(
            {"url": url, "event_types": _ticked(form), "description": description}, EndpointIn
        )
    except msgspec.ValidationError as exc:
        raise BadRequest(f"The endpoint was not filled in as expected: {exc}.") from exc


def result_words(attempt: WebhookAttempt) -> str:
    """What the attempt got: `200`, `500: ...`, or the error when there was no answer."""
    if attempt.status is None:
        return attempt.error or "No answer"
    return f"{attempt.status}: {attempt.error}" if attempt.error else str(attempt.status)


def message_words(message: WebhookMessage) -> str:
    if message.state == MessageState.DELIVERED:
        return f"Delivered {stamp(message.delivered_at)}" if message.delivered_at else "Delivered"
    if message.state == MessageState.FAILED:
        return "Failed: no more attempts"
    return f"Next attempt {stamp(message.next_attempt_at)}"


def log_rows(log: list[tuple[WebhookAttempt, WebhookMessage]]) -> list[dict[str, Any]]:
    """The attempts, newest first; a message's Replay button on its newest attempt only."""
    seen: set[Any] = set()
    rows = []
    for attempt, message in log:
        excerpt = attempt.excerpt.strip()
        rows.append(
            {
                "at": stamp(attempt.created_at),
                "event_type": message.event_type,
                "webhook_id": message.message_id,
                "result": result_words(attempt),
                "ok": attempt.status is not None and 200 <= attempt.status < 300,
                "latency": f"{round(attempt.latency_ms)} ms",
                "excerpt": excerpt[:EXCERPT_CHARS] + ("…" if len(excerpt) > EXCERPT_CHARS else ""),
                "message_id": message.id,
                "message": message_words(message),
                "replay": message.id not in seen,
            }
        )
        seen.add(message.id)
    return rows


def endpoint_row(
    endpoint: WebhookEndpoint, log: list[tuple[WebhookAttempt, WebhookMessage]]
) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "events": list(endpoint.event_types),
        "enabled": endpoint.disabled_at is None,
        "disabled": day_and_time(endpoint.disabled_at),
        "disabled_reason": endpoint.disabled_reason or "Disabled.",
        "failing_since": day_and_time(endpoint.failing_since),
        "added": day_and_time(endpoint.created_at),
        "log": log_rows(log),
    }


class WebhookPages(DashboardSection):
    # --- webhooks ---

    async def _webhooks_page(
        self,
        request: Request[Any, Any, Any],
        publication: Publication,
        reader: Reader,
        publications: PublicationService,
        webhooks: WebhookService,
        *,
        error: TollgateError | None = None,
        form: dict[str, Any] | None = None,
        made: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        owner = await publications.role_of(publication, reader.id) == StaffRole.OWNER
        endpoints = [
            endpoint_row(e, await webhooks.log(e, limit=LOG_ROWS))
            for e in await webhooks.endpoints(publication.id)
        ]
        context = {
            "publication": publication,
            "section": "webhooks",
            "owner": owner,
            "endpoints": endpoints,
            "events": list(EVENTS.items()) + [(t.value, t.value) for t in EventType if t.value not in EVENTS],
            "made": made,
            "error": error.detail if error else "",
            "form": form or {"url": "", "event_types": [], "description": ""},
        }
        return page(
            request, "webhooks.html", context, status_code=error.status_code if error else status_code
        )

    @get("/{slug:str}/webhooks")
    async def webhooks_page(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
        webhooks: NamedDependency[WebhookService],
    ) -> Template:
        return await self._webhooks_page(request, publication, reader, publications, webhooks)

    @post("/{slug:str}/webhooks", status_code=201, guards=[same_origin], dependencies=OWNER_LOCKED)
    async def add_endpoint(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
        webhooks: NamedDependency[WebhookService],
    ) -> Template:
        form = await request.form()
        typed = {
            "url": _text(form, "url"),
            "event_types": _ticked(form),
            "description": _text(form, "description"),
        }
        try:
            data = read_endpoint(form)
            endpoint, secret = await webhooks.add(
                publication.id, data.url, data.event_types, data.description
            )
        except TollgateError as exc:
            return await self._webhooks_page(
                request, publication, reader, publications, webhooks, error=exc, form=typed
            )
        # On this answer only (no-store, like every dashboard page): not in a redirect, not in the
        # notice cookie, never again once this page is left.
        made = {
            "message": (
                f"The endpoint {endpoint.url} is added. Copy its signing secret now: it is not shown again."
            ),
            "secret": secret,
        }
        return await self._webhooks_page(
            request, publication, reader, publications, webhooks, made=made, status_code=201
        )

    @post(
        "/{slug:str}/webhooks/{endpoint_id:str}/rotate",
        status_code=200,
        guards=[same_origin],
        dependencies=OWNER,
    )
    async def rotate_secret(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[str],
        publication: NamedDependency[Publication],
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
        webhooks: NamedDependency[WebhookService],
    ) -> Template:
        try:
            endpoint = await webhooks.endpoint(publication.id, id_of(endpoint_id, "webhook endpoint"))
            secret = await webhooks.rotate(endpoint)
        except TollgateError as exc:
            return await self._webhooks_page(request, publication, reader, publications, webhooks, error=exc)
        made = {
            "message": (
                f"The endpoint {endpoint.url} has a new signing secret. Copy it now: it is not shown again. "
                f"The old secret also signs deliveries until {day_and_time(endpoint.previous_until)}, "
                "so your receiver can switch over."
            ),
            "secret": secret,
        }
        return await self._webhooks_page(request, publication, reader, publications, webhooks, made=made)

    async def _switch(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: str,
        publication: Publication,
        reader: Reader,
        publications: PublicationService,
        webhooks: WebhookService,
        settings: Settings,
        *,
        enabled: bool,
    ) -> Redirect | Template:
        try:
            endpoint = await webhooks.endpoint(publication.id, id_of(endpoint_id, "webhook endpoint"))
            await webhooks.change(endpoint, enabled=enabled)
        except TollgateError as exc:
            return await self._webhooks_page(request, publication, reader, publications, webhooks, error=exc)
        if enabled:
            words = f"The endpoint {endpoint.url} is enabled: new events are sent to it again."
        else:
            words = f"The endpoint {endpoint.url} is disabled: no events are sent to it until it is enabled."
        return done(settings, base_of(publication, "webhooks"), words)

    @post(
        "/{slug:str}/webhooks/{endpoint_id:str}/disable",
        status_code=303,
        guards=[same_origin],
        dependencies=OWNER,
    )
    async def disable_endpoint(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[str],
        publication: NamedDependency[Publication],
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
        webhooks: NamedDependency[WebhookService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        return await self._switch(
            request, endpoint_id, publication, reader, publications, webhooks, settings, enabled=False
        )

    @post(
        "/{slug:str}/webhooks/{endpoint_id:str}/enable",
        status_code=303,
        guards=[same_origin],
        dependencies=OWNER,
    )
    async def enable_endpoint(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[str],
        publication: NamedDependency[Publication],
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
        webhooks: NamedDependency[WebhookService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        return await self._switch(
            request, endpoint_id, publication, reader, publications, webhooks, settings, enabled=True
        )

    @post(
        "/{slug:str}/webhooks/{endpoint_id:str}/delete",
        status_code=303,
        guards=[same_origin],
        dependencies=OWNER,
    )
    async def delete_endpoint(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[str],
        publication: NamedDependency[Publication],
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
        webhooks: NamedDependency[WebhookService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        try:
            endpoint = await webhooks.endpoint(publication.id, id_of(endpoint_id, "webhook endpoint"))
            url = endpoint.url
            await webhooks.remove(endpoint)
        except TollgateError as exc:
            return await self._webhooks_page(request, publication, reader, publications, webhooks, error=exc)
        return done(
            settings,
            base_of(publication, "webhooks"),
            f"The endpoint {url} is deleted, with its delivery log; nothing more is sent to it.",
        )

    @post(
        "/{slug:str}/webhooks/{endpoint_id:str}/messages/{message_id:str}/replay",
        status_code=303,
        guards=[same_origin],
        dependencies=OWNER,
    )
    async def replay_message(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[str],
        message_id: FromPath[str],
        publication: NamedDependency[Publication],
        reader: NamedDependency[Reader],
        publications: NamedDependency[PublicationService],
        webhooks: NamedDependency[WebhookService],
        settings: NamedDependency[Settings],
    ) -> Redirect | Template:
        try:
            endpoint = await webhooks.endpoint(publication.id, id_of(endpoint_id, "webhook endpoint"))
            message = await webhooks.replay(endpoint, id_of(message_id, "message"))
        except TollgateError as exc:
            return await self._webhooks_page(request, publication, reader, publications, webhooks, error=exc)
        return done(
            settings,
            base_of(publication, "webhooks"),
            f"The {message.event_type} message {message.message_id} is sent again now, "
            "with the same webhook-id.",
        )
