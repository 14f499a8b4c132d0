"""The reader-facing story routes: the index, a story (HTML or JSON), and making a friend link.

`GET`/`HEAD /stories/{id}` gives the full story or the teaser and paywall, as `access.decide`
says through `admission.Gatekeeper`. HTML unless the client prefers JSON; an unentitled JSON read
answers 402 with problem details, the teaser and the offers. Whatever the channel, the body is
built from what the decision opened, so HEAD, conditional requests and byte ranges can only ever
see that (ranges are not served: `Accept-Ranges: none`, and a `Range` header gets the whole answer).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import msgspec
import structlog
from litestar import HttpMethod, MediaType, Request, get, post, route
from litestar.datastructures import Accept
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath
from litestar.response.base import ASGIResponse

from gateway.access import Decision, Reason
from gateway.admission import Admission, Gatekeeper
from gateway.free_reads import COOKIE as FREE_READS_COOKIE
from gateway.metrics import metrics_of
from gateway.stories.catalogue import Catalogue
from gateway.stories.http_origin import OriginError, OriginTimeout
from gateway.stories.models import Story, is_slug
from gateway.stories.offer_links import COOKIE as OFFER_COOKIE
from gateway.stories.offer_links import applicable, code_for, code_in_query, remember
from gateway.stories.origin import Origin
from gateway.stories.pages import (
    PAGE_HEADERS,
    Paywall,
    etag_of,
    offer_json,
    page_headers,
    render_index,
    render_message,
    render_page,
    shared_page,
    story_json,
)
from gateway.stories.responses import StoryResponse
from tollgate_client import MembershipDown, MembershipRefused, Offer, Promotion
from tollgate_common.problems import (
    PROBLEM_JSON,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    TollgateError,
    Unauthorized,
)

log = structlog.get_logger("gateway.stories")

ACCESS_HEADER = "tollgate-access"
UNLOCKS_HEADER = "tollgate-unlocks-left"
# A member-only answer depends on who asks (token header or cookies) and on what they accept.
READER_VARY = "Accept, Authorization, Cookie"
RETRY_AFTER_SECONDS = "30"


class OriginUnavailableError(TollgateError):
    status_code = 502


class OriginTimeoutError(TollgateError):
    status_code = 504


def gatekeeper_of(request: Request[Any, Any, Any]) -> Gatekeeper:
    gatekeeper = request.app.state.gatekeeper
    assert isinstance(gatekeeper, Gatekeeper)
    return gatekeeper


def catalogue_of(request: Request[Any, Any, Any]) -> Catalogue:
    catalogue = request.app.state.catalogue
    assert isinstance(catalogue, Catalogue)
    return catalogue


def origin_of(request: Request[Any, Any, Any]) -> Origin:
    origin: Origin = request.app.state.origin
    return origin


def _prefers_json(accept: str) -> bool:
    offered = ["text/html", "application/json", "application/problem+json"]
    return Accept(accept).best_match(offered, "text/html") in ("application/json", "application/problem+json")


# Clients send few distinct Accept headers; parsing one costs more than the rest of a cached read.
_ACCEPT_SEEN: dict[bytes, bool] = {}


def wants_json(request: Request[Any, Any, Any]) -> bool:
    """JSON only when the client prefers it to HTML; anything odd or absent gets the page."""
    raw = next((value for name, value in request.scope["headers"] if name == b"accept"), b"")
    answer = _ACCEPT_SEEN.get(raw)
    if answer is None:
        answer = _prefers_json(raw.decode("latin-1"))
        if len(_ACCEPT_SEEN) >= 1024:
            _ACCEPT_SEEN.clear()
        _ACCEPT_SEEN[raw] = answer
    return answer


async def fetch_story(request: Request[Any, Any, Any], story_id: str) -> Story | None:
    """The story from the origin, timed; an origin failure becomes a 502 or 504 problem."""
    metrics = metrics_of(request)
    started = time.perf_counter()
    outcome = "ok"
    try:
        return await origin_of(request).story(story_id)
    except OriginTimeout as exc:
        outcome = "timeout"
        raise OriginTimeoutError("The story origin did not answer in time. Please try again.") from exc
    except OriginError as exc:
        outcome = "error"
        log.warning("origin failed", story=story_id, error=str(exc))
        raise OriginUnavailableError("The story origin is unavailable. Please try again shortly.") from exc
    finally:
        metrics.origin_time(outcome).observe(time.perf_counter() - started)


def _response(
    request: Request[Any, Any, Any],
    status: int,
    body: bytes,
    media_type: str,
    headers: dict[str, str],
    set_cookies: list[str],
) -> ASGIResponse:
    etag = headers.get("etag") or etag_of(body)
    headers = {**headers, "etag": etag, "accept-ranges": "none"}
    if status == 200 and etag in _if_none_match(request.scope["headers"]):
        status = 304
    fields = [*headers.items(), *(("set-cookie", cookie) for cookie in set_cookies)]
    return StoryResponse(status, body, media_type, fields, is_head=request.scope["method"] == "HEAD")


def has_cookie(request: Request[Any, Any, Any], name: str) -> bool:
    """Whether the request carries the named cookie, from the raw header (no cookie parsing)."""
    wanted = f"{name}=".encode()
    return any(field == b"cookie" and wanted in value for field, value in request.scope["headers"])


def _if_none_match(raw_headers: Iterable[tuple[bytes, bytes]]) -> set[str]:
    # Read from the raw headers: building Litestar's header map costs more than the rest of this.
    value = next((v for name, v in raw_headers if name == b"if-none-match"), b"").decode("latin-1")
    return {tag.strip() for tag in value.split(",") if tag.strip()}


@route(
    "/stories/{story_id:str}",
    http_method=[HttpMethod.GET, HttpMethod.HEAD],
    summary="A story: in full, or its teaser and the paywall",
    description=(
        "HTML unless the client prefers JSON. The reader is the `Authorization: Bearer` access token, "
        "else the `tollgate_access` cookie; a `tollgate_session` cookie renews an expired token. "
        "`?friend=` carries a friend link's code; `?offer=` an offer's code, remembered in the "
        "`tollgate_offer` cookie, which prices the paywall's tiers through the offer. "
        "Answers carry `Tollgate-Access: full|teaser|unavailable; "
        'reason="..."` and, when metered, `Tollgate-Unlocks-Left`.'
    ),
    tags=["stories"],
    responses={
        402: ResponseSpec(
            None,
            description="JSON only: member-only story, not opened for this reader. Problem details "
            "with `reason`, `unlocks_left`, `sign_in`, `story` (teaser only) and `offers` "
            "(tiers, prices, checkout).",
        ),
        502: ResponseSpec(None, description="The story origin is unavailable."),
        503: ResponseSpec(
            None, description="Membership was needed (free unlock, renewal, friend link) and is down."
        ),
        504: ResponseSpec(None, description="The story origin did not answer in time."),
    },
)
async def read_story(request: Request[Any, Any, Any], story_id: FromPath[str]) -> ASGIResponse:
    story = await fetch_story(request, story_id) if is_slug(story_id) else None
    if story is None:
        lowered = story_id.lower()
        # A case variant of a real story goes to the one address a story has; nothing is served here.
        if lowered != story_id and is_slug(lowered) and await fetch_story(request, lowered) is not None:
            query = request.scope.get("query_string", b"").decode("latin-1")
            location = f"/stories/{lowered}" + (f"?{query}" if query else "")
            return ASGIResponse(status_code=301, headers={"location": location})
        if not wants_json(request):
            return _missing_page(request)
        raise NotFound("There is no story at this address.")

    gatekeeper = gatekeeper_of(request)
    admission = await gatekeeper.admit(request, story)
    decision = admission.decision
    access = "unavailable" if admission.unavailable else ("full" if decision.full else "teaser")
    gatekeeper.metrics.story_request(access, decision.reason.value).inc()
    request.scope["state"]["access_log_extra"] = {
        "story": story.id,
        "access": access,
        "reason": decision.reason.value,
    }
    headers = {
        ACCESS_HEADER: f'{access}; reason="{decision.reason.value}"',
        **page_headers(gatekeeper.settings.image_hosts),
    }
    signed_in = admission.reader_id is not None or has_cookie(request, gatekeeper.settings.session_cookie)
    if story.is_public and signed_in:
        # The header names the reader's account: not for shared caches.
        headers["cache-control"] = f"private, max-age={gatekeeper.settings.public_max_age_seconds}"
        headers["vary"] = READER_VARY
    elif story.is_public:
        headers["cache-control"] = f"public, max-age={gatekeeper.settings.public_max_age_seconds}"
        # The page names the reader's account when the token or the session says who they are.
        headers["vary"] = READER_VARY
    elif decision.reason is Reason.SIGN_IN and not admission.set_cookies and _anonymous(request, gatekeeper):
        # The sign-in paywall is the same page for everyone who brings no token and none of our
        # cookies: a shared cache (deploy/nginx) may keep it briefly; browsers ask again each time
        # (max-age=0: the ETag makes that cheap), so a reader who has just subscribed never sees it.
        headers["cache-control"] = f"public, max-age=0, s-maxage={gatekeeper.settings.public_max_age_seconds}"
        headers["vary"] = READER_VARY
    else:
        headers["cache-control"] = "private, no-cache"
        headers["vary"] = READER_VARY
    if decision.reason is Reason.UNLOCK_AVAILABLE:
        # A prefetched teaser must not stand in for the real read, which would open the story.
        headers["cache-control"] = "no-store"
    if admission.checkout is not None:
        # A page for this reader's checkout, under a URL carrying its id: kept nowhere.
        headers["cache-control"] = "private, no-store"
    if admission.friend_code:
        # The code is in the URL: keep the answer out of every cache and the URL out of referrers.
        headers["cache-control"] = "private, no-store"
        headers["referrer-policy"] = "no-referrer"
    if decision.unlocks_left is not None:
        headers[UNLOCKS_HEADER] = str(decision.unlocks_left)
    offer_code = code_in_query(request)
    if offer_code:
        # An offer link: the reader's browser keeps the code, so a later visit shows the offer too.
        secure = gatekeeper.settings.public_url.startswith("https://")
        admission.set_cookies.append(remember(offer_code, secure=secure))
        _for_this_reader(headers)
    as_json = wants_json(request)
    if admission.unavailable:
        return await _unavailable(request, story, admission, headers, as_json)
    if as_json:
        return await _json_answer(request, story, admission, headers, offer_code)
    return await _html_answer(request, story, admission, headers, signed_in, offer_code)


def _anonymous(request: Request[Any, Any, Any], gatekeeper: Gatekeeper) -> bool:
    """No `Authorization` header and none of the cookies that change a story's answer."""
    settings = gatekeeper.settings
    cookies = (settings.session_cookie, settings.access_cookie, FREE_READS_COOKIE, OFFER_COOKIE)
    for name, value in request.scope["headers"]:
        if name == b"authorization":
            return False
        if name == b"cookie" and any(f"{cookie}=".encode() in value for cookie in cookies):
            return False
    return True


def _for_this_reader(headers: dict[str, str]) -> None:
    """The answer depends on the reader's cookies (an offer, a cookie set): never from a shared cache."""
    cache = headers.get("cache-control", "")
    if cache.startswith("public"):
        headers["cache-control"] = "private" + cache.removeprefix("public")
    vary = [v.strip() for v in headers.get("vary", "").split(",") if v.strip()]
    if "Cookie" not in vary:
        headers["vary"] = ", ".join([*vary, "Cookie"])


def _missing_page(request: Request[Any, Any, Any]) -> ASGIResponse:
    """A person who followed a broken link gets a page in the site's style (JSON clients: problem details)."""
    body = render_message(
        "No story here",
        "There is no story at this address. The link may be mistyped, or the story may have moved.",
        back="/",
        back_label="See all stories",
    )
    headers = {"cache-control": "no-cache", **PAGE_HEADERS}
    return _response(request, 404, body, MediaType.HTML, headers, [])


async def _html_answer(
    request: Request[Any, Any, Any],
    story: Story,
    admission: Admission,
    headers: dict[str, str],
    signed_in: bool,
    offer_code: str | None = None,
) -> ASGIResponse:
    gatekeeper = gatekeeper_of(request)
    decision = admission.decision
    base_url = gatekeeper.settings.public_url
    # Authors and staff may make friend links: the button shows however they came to read it.
    share = (admission.reader_id is not None and admission.reader_id == story.author_id) or (
        decision.reason in (Reason.AUTHOR, Reason.STAFF)
    )
    shared = decision.reason in (Reason.PUBLIC, Reason.ENTITLED) and not share and admission.checkout is None
    if decision.full and shared:
        body, etag = shared_page(story, decision.reason, base_url, signed_in)
        return _response(request, 200, body, MediaType.HTML, {**headers, "etag": etag}, admission.set_cookies)
    offers = [] if decision.full else await _offers(request, story, admission.reader_id)
    promotion = await _promotion(request, offers, offer_code, headers, admission.reader_id)
    names = await catalogue_of(request).publication_names() if not decision.full else {}
    body = render_page(
        story,
        decision,
        base_url=base_url,
        offers=offers,
        publication_name=names.get(story.publication, ""),
        anonymous_allowance=gatekeeper.free_reads.allowance,
        share=share,
        signed_in=signed_in,
        checkout=admission.checkout,
        promotion=promotion,
    )
    return _response(request, 200, body, MediaType.HTML, headers, admission.set_cookies)


async def _offers(request: Request[Any, Any, Any], story: Story, reader_id: str | None) -> list[Offer]:
    """The tiers on offer, without the free trial this reader already had (checkout gives none)."""
    offers = await catalogue_of(request).offers(story.publication, story.keys)
    if reader_id is None or not any(offer.trial_days for offer in offers):
        return offers
    try:
        taken = await gatekeeper_of(request).membership.trials_taken(reader_id)
    except (MembershipDown, MembershipRefused) as exc:
        # Promise no trial that checkout might refuse.
        log.warning("trials unknown", error=str(exc))
        taken = frozenset(offer.id for offer in offers)
    return [msgspec.structs.replace(o, trial_days=0) if o.id in taken else o for o in offers]


async def _promotion(
    request: Request[Any, Any, Any],
    offers: list[Offer],
    from_query: str | None,
    headers: dict[str, str],
    reader_id: str | None,
) -> Promotion | None:
    """The offer the reader came through, if it is open and for a tier this paywall lists, and,
    for an offer to new or lapsed readers, one this signed-in reader may take (checkout agrees).

    Membership not answering means no offer, never an error. A paywall showing one is this reader's.
    """
    code = code_for(request, from_query) if offers else None
    if code is None:
        return None
    promotion = applicable(await catalogue_of(request).promotion(code), offers)
    if promotion is None:
        return None
    _for_this_reader(headers)
    if reader_id is not None and promotion.audience != "campaign":
        try:
            allowed = await gatekeeper_of(request).membership.offer_eligibility(promotion.code, reader_id)
        except (MembershipDown, MembershipRefused) as exc:
            log.warning("offer eligibility unknown", code=promotion.code, error=str(exc))
            return None  # promise no price that checkout might refuse
        if not allowed.eligible:
            return None
    return promotion


async def _json_answer(
    request: Request[Any, Any, Any],
    story: Story,
    admission: Admission,
    headers: dict[str, str],
    offer_code: str | None = None,
) -> ASGIResponse:
    decision = admission.decision
    if decision.full:
        body = msgspec.json.encode(story_json(story, decision))
        return _response(request, 200, body, MediaType.JSON, headers, admission.set_cookies)
    offers = await _offers(request, story, admission.reader_id)
    promotion = await _promotion(request, offers, offer_code, headers, admission.reader_id)
    path = f"/stories/{story.id}"
    detail = {
        Reason.SUBSCRIBE: "You have read this month's free member-only stories; subscribe to read this one.",
        Reason.TOKEN_REFUSED: "Your access token was refused; sign in again, or subscribe.",
    }.get(decision.reason, "This story is for members: subscribe, or sign in to read it with a free story.")
    problem = {
        "type": "https://tollgate.dev/problems/member-only",
        "title": "Member-only story",
        "status": 402,
        "detail": detail,
        "instance": path,
        "reason": decision.reason.value,
        "unlocks_left": decision.unlocks_left,
        "sign_in": f"/auth/sign-in?next={path}",
        "story": story_json(story, decision),
        "offers": [offer_json(offer, path, promotion) for offer in offers],
    }
    if admission.checkout is not None:
        # `pending`: the payment is being confirmed; ask again in a few seconds.
        problem["checkout"] = admission.checkout.value
    return _response(request, 402, msgspec.json.encode(problem), PROBLEM_JSON, headers, admission.set_cookies)


async def _unavailable(
    request: Request[Any, Any, Any],
    story: Story,
    admission: Admission,
    headers: dict[str, str],
    as_json: bool,
) -> ASGIResponse:
    """Membership was needed and did not answer: a 503 with the teaser, never the text."""
    log.warning("membership needed and unavailable", story=story.id, error=admission.unavailable)
    headers = {**headers, "retry-after": RETRY_AFTER_SECONDS, "cache-control": "no-store"}
    detail = "Tollgate cannot check your membership or free stories right now. Please try again in a minute."
    teaser = Decision(full=False, reason=admission.decision.reason)
    if as_json:
        problem = {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": detail,
            "instance": f"/stories/{story.id}",
            "story": story_json(story, teaser),
        }
        return _response(
            request, 503, msgspec.json.encode(problem), PROBLEM_JSON, headers, admission.set_cookies
        )
    paywall = Paywall("We cannot open this story just now", detail, sign_in=False)
    body = render_page(story, teaser, base_url=gatekeeper_of(request).settings.public_url, paywall=paywall)
    return _response(request, 503, body, MediaType.HTML, headers, admission.set_cookies)


@post(
    "/stories/{story_id:str}/friend-links",
    status_code=201,
    summary="Make a friend link for this story (its author, or the publication's staff)",
    tags=["stories"],
)
async def make_friend_link(request: Request[Any, Any, Any], story_id: FromPath[str]) -> ASGIResponse:
    """A friend link for this story, made by its author or by the publication's staff."""
    gatekeeper = gatekeeper_of(request)
    settings = gatekeeper.settings
    origin = request.headers.get("origin")
    if origin is not None and "authorization" not in request.headers:
        # Cookie-authenticated form posts must come from our own pages (SameSite=Lax is the other half).
        own = urlsplit(settings.public_url)
        if origin.rstrip("/") != f"{own.scheme}://{own.netloc}":
            raise Forbidden("This form must be sent from the story's own page.")
    story = await fetch_story(request, story_id) if is_slug(story_id) else None
    if story is None:
        raise NotFound("There is no story at this address.")
    identity = await gatekeeper.identify(request)
    if identity is None:
        if wants_json(request):
            raise Unauthorized("Sign in to make a friend link.")
        return ASGIResponse(status_code=303, headers={"location": f"/auth/sign-in?next=/stories/{story.id}"})
    claims, token, set_cookies = identity
    is_author = story.author_id is not None and claims.sub == story.author_id
    try:
        link = await gatekeeper.membership.create_friend_link(
            publication=story.publication,
            story_id=story.id,
            author_id=claims.sub if is_author else None,
            bearer=token,
        )
    except MembershipDown as exc:
        raise ServiceUnavailable(
            "Friend links cannot be made right now. Please try again in a minute.",
            headers={"retry-after": RETRY_AFTER_SECONDS},
        ) from exc
    except MembershipRefused as exc:
        if exc.status in (401, 403):
            raise Forbidden(
                "Only the story's author or the publication's staff may make friend links."
            ) from exc
        raise NotFound(exc.detail or exc.title) from exc
    url = f"{settings.public_url}{link.path}"
    headers = {"cache-control": "no-store", **PAGE_HEADERS}
    if wants_json(request):
        body = msgspec.json.encode(
            {"id": str(link.id), "story_id": link.story_id, "publication": link.publication, "url": url}
        )
        return _response(request, 201, body, MediaType.JSON, headers, set_cookies)
    body = render_message(
        "Your friend link",
        "Anyone with this link can read the story in full, without a membership, until the link is revoked. "
        "It is shown only once: copy it now.",
        link=url,
        back=f"/stories/{story.id}",
    )
    return _response(request, 201, body, MediaType.HTML, headers, set_cookies)


@get("/", media_type=MediaType.HTML, include_in_schema=False, cache=False)
async def index(request: Request[Any, Any, Any]) -> ASGIResponse:
    stories = await origin_of(request).stories()
    groups: dict[str, list[Story]] = {}
    for story in stories:
        groups.setdefault(story.publication, []).append(story)
    names = await catalogue_of(request).publication_names()
    signed_in = has_cookie(request, gatekeeper_of(request).settings.session_cookie)
    body = render_index(sorted(groups.items()), names, signed_in=signed_in)
    # The header names the reader's account when signed in: not for shared caches then.
    cache = "private, max-age=60" if signed_in else "public, max-age=60"
    headers = {"cache-control": cache, "vary": "Cookie", **PAGE_HEADERS}
    return _response(request, 200, body, MediaType.HTML, headers, [])
