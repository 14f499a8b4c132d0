"""Sending one outgoing webhook: a single HTTP POST to a URL a publisher registered, made safe.

A webhook URL is chosen by whoever registers it, so posting to it blindly would let anyone make
Tollgate's servers call addresses only they can reach (server-side request forgery, SSRF): the cloud
metadata service at 169.254.169.254, the database on 10.0.0.5, an admin port on localhost. As
Stripe's and Svix's senders do, this module delivers only to public addresses unless told
otherwise (`allow_private`, for development and tests):

- only http(s) URLs with a host and no credentials (`check_url`);
- the host is resolved at send time and every address it resolves to must be public
  (`forbidden_reason` says why one is not), IPv4-mapped and other IPv6 forms judged by the IPv4
  address inside them;
- the request then goes to the address that was checked, with the original `Host` header and, for
  https, TLS (SNI and the certificate check) on the real host name: a DNS answer that changes
  between the check and the connection (DNS rebinding) cannot steer the request elsewhere;
- redirects are never followed (a 3xx could point anywhere), one total timeout bounds the whole
  exchange, and at most `max_answer_bytes` of the answer are read.

`Sender.send` never raises for trouble on the way: every outcome, refusals included, is a
`Delivery` the worker records and retries. Signing, the outbox and retries live elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

__all__ = ["Delivery", "Sender", "UnsafeUrl", "check_url", "forbidden_reason"]

MAX_URL_LENGTH = 2000
EXCERPT_CHARS = 1000
_DETAIL_CHARS = 300

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Carrier-grade NAT space (RFC 6598): Python's ipaddress calls it neither private nor global.
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
# NAT64 (RFC 6052): a gateway would forward these to the IPv4 address in the last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# A DNS name as it appears once httpx has IDNA-encoded it; anything else (spaces, %) is refused.
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one POST."""

    status: int | None  # the HTTP status; None when there was no answer (refused, timed out, unreachable)
    latency_ms: float
    excerpt: str  # the start of the answer, decoded leniently, at most EXCERPT_CHARS characters
    error: str | None  # a short sentence for people when something went wrong, else None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class UnsafeUrl(ValueError):
    """A URL Tollgate will not deliver to; the message is a sentence for the publisher."""


def check_url(url: str) -> str:
    """The URL normalised (scheme and host lower-cased, IDNA-encoded), or UnsafeUrl saying why not."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"Webhook URLs may be at most {MAX_URL_LENGTH} characters long.")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UnsafeUrl(f"This is not a valid URL ({exc}).") from None
    if parsed.scheme not in ("http", "https"):
        raise UnsafeUrl("Webhook URLs must start with http:// or https://.")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise UnsafeUrl("Webhook URLs must name a host, as in https://example.com/webhooks.")
    if parsed.userinfo:
        # Credentials in a URL end up in logs and dashboards; secrets go in the signing secret.
        raise UnsafeUrl("Webhook URLs may not contain a user name or password.")
    if not (_is_ip_literal(host) or _HOST_NAME.fullmatch(host)):
        raise UnsafeUrl(f"{host!r} is not a valid host name.")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise UnsafeUrl(f"{parsed.port} is not a valid port.")
    if parsed.port == _DEFAULT_PORTS[parsed.scheme]:
        parsed = parsed.copy_with(port=None)  # httpx keeps it when the scheme was written in capitals
    return str(parsed)


def forbidden_reason(address: IPAddress) -> str | None:
    """Why deliveries to this address are refused (as in 'it is a loopback address'), or None
    when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        # These forms reach an IPv4 address, so they are exactly as safe as that address.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return forbidden_reason(embedded)
        if address.is_site_local:
            return "a site-local address"
    # Checked one by one, not by is_global alone: in Python 3.11 multicast and some reserved
    # ranges count as global.
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


class Sender:
    """Posts webhooks; one per process, shared by the workers.

    A client passed as `http` is used as given (its TLS settings, proxies, pool) and not closed by
    `aclose`; the sender still turns redirects off and asks for a fresh connection per delivery.
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        timeout: float = 10.0,
        max_answer_bytes: int = 64 * 1024,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._timeout = timeout
        self._max_answer_bytes = max_answer_bytes
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            # A proxy from the environment would pick the address itself, after our check.
            trust_env=False,
            # A pooled connection is keyed by IP, not host name: never hand one host's to another.
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def check_destination(self, url: str) -> None:
        """Raises UnsafeUrl if the URL is refused, its host cannot be resolved, or (unless
        private addresses are allowed) it resolves to any address that is not public."""
        target = httpx.URL(check_url(url))
        try:
            async with asyncio.timeout(self._timeout):
                await self._destination(target)
        except TimeoutError:
            host = target.raw_host.decode("ascii")
            raise UnsafeUrl(
                f"Looking up {host} took longer than {self._timeout:g} s; please try again later."
            ) from None

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> Delivery:
        """POSTs `body` with `headers` and says what became of it; never raises for network trouble."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                return await self._send(url, body, headers, started)
        except (TimeoutError, httpx.TimeoutException):
            return _failed(started, f"no answer within {self._timeout:g} s")

    async def _send(self, url: str, body: bytes, headers: Mapping[str, str], started: float) -> Delivery:
        try:
            target = httpx.URL(check_url(url))
            addresses = await self._destination(target)
        except UnsafeUrl as exc:
            return _failed(started, str(exc))
        netloc = target.netloc.decode("ascii")
        failure = f"could not connect to {netloc}"
        for address in addresses:  # in the resolver's order, each tried until one connects
            try:
                return await self._post(target, address, body, headers, started)
            except httpx.TimeoutException:
                raise  # said once, by send, with the timeout in words
            except httpx.ConnectError as exc:
                failure = f"could not connect to {netloc} ({address}): {_detail(exc)}"
            except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
                return _failed(started, f"the exchange with {netloc} failed: {_detail(exc)}")
        return _failed(started, failure)

    async def _destination(self, target: httpx.URL) -> list[str]:
        """The addresses the host resolves to, every one checked; UnsafeUrl when refused."""
        host = target.raw_host.decode("ascii")
        port = target.port or _DEFAULT_PORTS[target.scheme]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except OSError:
            raise UnsafeUrl(f"The host {host} could not be found.") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise UnsafeUrl(f"The host {host} could not be found.")
        if not self._allow_private:
            for address in addresses:
                reason = forbidden_reason(ipaddress.ip_address(address))
                if reason is not None:
                    if _is_ip_literal(host):
                        raise UnsafeUrl(f"Deliveries to {host} are refused: it is {reason}.")
                    raise UnsafeUrl(f"Deliveries to {host} are refused: it resolves to {address}, {reason}.")
        return addresses

    async def _post(
        self, target: httpx.URL, address: str, body: bytes, headers: Mapping[str, str], started: float
    ) -> Delivery:
        request_headers = httpx.Headers(headers)
        # The connection goes to the checked address; the receiver still sees its own host name.
        request_headers["Host"] = target.netloc.decode("ascii")
        # A connection pinned to one host's address and TLS name must not be reused for another.
        request_headers["Connection"] = "close"
        # Raw bytes are capped below; a compressed answer could inflate far beyond the cap.
        request_headers["Accept-Encoding"] = "identity"
        extensions: dict[str, str] = {}
        if target.scheme == "https":
            # TLS on the real name: httpcore sends it as SNI and checks the certificate against it.
            extensions["sni_hostname"] = target.raw_host.decode("ascii")
        request = self._http.build_request(
            "POST",
            target.copy_with(host=address),
            content=body,
            headers=request_headers,
            extensions=extensions,
        )
        response = await self._http.send(request, stream=True, follow_redirects=False)
        try:
            answer = bytearray()
            async for chunk in response.aiter_raw():
                answer += chunk
                if len(answer) >= self._max_answer_bytes:
                    break  # the status is known; the rest of the answer is not worth reading
        finally:
            await response.aclose()
        excerpt = bytes(answer[: self._max_answer_bytes]).decode("utf-8", errors="replace")[:EXCERPT_CHARS]
        latency_ms = (time.perf_counter() - started) * 1000
        status = response.status_code
        error: str | None = None
        if 300 <= status < 400:
            location = response.headers.get("location")
            where = f" to {location}" if location else ""
            error = f"redirects are not followed (answered {status}{where})"
        elif not 200 <= status < 300:
            error = f"answered {status} {response.reason_phrase}".rstrip()
        return Delivery(status=status, latency_ms=latency_ms, excerpt=excerpt, error=error)


def _failed(started: float, error: str) -> Delivery:
    return Delivery(status=None, latency_ms=(time.perf_counter() - started) * 1000, excerpt="", error=error)


def _detail(exc: BaseException) -> str:
    """The exception in a few words, for the delivery log."""
    text = str(exc) or type(exc).__name__
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
