"""The webhook sender over real HTTP: receivers are small ASGI apps served by uvicorn (and one TLS
server), the sender is used as the worker will use it. Public addresses are judged by the
classification alone: there is no internet here."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import re
import ssl
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from membership.webhooks.sender import Sender, UnsafeUrl, check_url, forbidden_reason
from tests.servers import bound_socket, serve

# A sender that hangs must fail the test, not stall the run.
pytestmark = pytest.mark.timeout(60)

HEADERS = {
    "content-type": "application/json",
    "webhook-id": "msg_2mKpTz",
    "webhook-timestamp": "1735689600",
    "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
}
BODY = b'{"type":"member.joined","data":{"reader":"r_1"}}'


@dataclass
class Hit:
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


@dataclass
class Receiver:
    """A raw ASGI app that records every request and answers by path."""

    hits: list[Hit] = field(default_factory=list)
    disconnected: threading.Event = field(default_factory=threading.Event)
    streamed: int = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path = scope["path"]
        self.hits.append(Hit(path, [(k.decode(), v.decode()) for k, v in scope["headers"]], body))

        if path == "/forever":
            await self._stream_until_gone(receive, send, b"x" * 1024, 0.01)
            return
        if path == "/dribble":
            await self._stream_until_gone(receive, send, b"x", 0.05)
            return
        if path == "/hang":
            # Answers only once the client has hung up, or (if it never does) far too late.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_until_disconnect(receive), 10)
            await _answer(send, 504, b"too late")
            return
        if status := re.fullmatch(r"/status/(\d+)", path):
            await _answer(send, int(status[1]), b"status page")
        elif path == "/redirect":
            await _answer(send, 302, b"", [(b"location", b"/target")])
        elif path == "/big":
            await _answer(send, 200, b"a" * (1024 * 1024))
        elif path == "/long":
            await _answer(send, 200, b"0123456789" * 300)
        elif path == "/not-utf8":
            await _answer(send, 200, b"\xff\xfeok")
        else:
            await _answer(send, 200, b"thanks")

    async def _stream_until_gone(self, receive: Any, send: Any, chunk: bytes, pause: float) -> None:
        """An answer that never ends: `chunk` every `pause` seconds until the client disconnects."""
        await send({"type": "http.response.start", "status": 200, "headers": []})
        watcher = asyncio.create_task(_until_disconnect(receive))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not watcher.done() and loop.time() < deadline:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            self.streamed += len(chunk)
            await asyncio.sleep(pause)
        if watcher.done():
            self.disconnected.set()
        else:
            watcher.cancel()
        await send({"type": "http.response.body", "body": b""})


async def _until_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _answer(send: Any, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    app = Receiver()
    with serve(app) as base_url:  # type: ignore[arg-type]  # a raw ASGI app, loosely typed
        yield app, httpx.URL(base_url).port or 0


@pytest.fixture
async def sender() -> AsyncIterator[Sender]:
    sender = Sender(allow_private=True, timeout=5)
    yield sender
    await sender.aclose()


# --- delivering (private addresses allowed: the receivers are on loopback) --------------------


async def test_a_delivery_reaches_the_receiver_with_the_exact_body_and_headers(
    receiver: tuple[Receiver, int], sender: Sender
) -> None:
    app, port = receiver
    delivery = await sender.send(f"http://localhost:{port}/hooks?source=tollgate", BODY, HEADERS)

    assert delivery.ok, delivery
    assert delivery.status == 200
    assert delivery.error is None
    assert delivery.excerpt == "thanks"
    assert delivery.latency_ms > 0
    [hit] = app.hits
    assert hit.path == "/hooks"
    assert hit.body == BODY
    for name, value in HEADERS.items():
        assert hit.header(name) == [value]
    # Sent to the address checked, yet the receiver sees the host name it was registered under.
    assert hit.header("host") == [f"localhost:{port}"]
    assert hit.header("content-length") == [str(len(BODY))]


@pytest.mark.parametrize(("status", "ok"), [(200, True), (204, True), (410, False), (500, False)])
async def test_the_status_decides_success(
    receiver: tuple[Receiver, int], sender: Sender, status: int, ok: bool
) -> None:
    _, port = receiver
    delivery = await sender.send(f"http://127.0.0.1:{port}/status/{status}", BODY, HEADERS)

    assert delivery.status == status
    assert delivery.ok is ok
    if ok:
        assert delivery.error is None
    else:
        assert delivery.error is not None
        assert str(status) in delivery.error


async def test_a_redirect_is_not_followed(receiver: tuple[Receiver, int], sender: Sender) -> None:
    app, port = receiver
    delivery = await sender.send(f"http://127.0.0.1:{port}/redirect", BODY, HEADERS)

    assert delivery.status == 302
    assert not delivery.ok
    assert delivery.error == "redirects are not followed (answered 302 to /target)"
    assert [hit.path for hit in app.hits] == ["/redirect"]  # the target was never asked


async def test_a_huge_answer_gives_a_short_excerpt(receiver: tuple[Receiver, int], sender: Sender) -> None:
    _, port = receiver
    delivery = await sender.send(f"http://127.0.0.1:{port}/big", BODY, HEADERS)

    assert delivery.ok, delivery
    assert delivery.excerpt == "a" * 1000


async def test_the_answer_is_read_only_up_to_the_cap(receiver: tuple[Receiver, int]) -> None:
    _, port = receiver
    sender = Sender(allow_private=True, timeout=5, max_answer_bytes=10)
    try:
        delivery = await sender.send(f"http://127.0.0.1:{port}/long", BODY, HEADERS)
    finally:
        await sender.aclose()

    assert delivery.ok, delivery
    assert delivery.excerpt == "0123456789"  # 3000 bytes answered, 10 read


async def test_an_endless_answer_is_cut_at_the_cap(receiver: tuple[Receiver, int]) -> None:
    app, port = receiver
    sender = Sender(allow_private=True, timeout=5, max_answer_bytes=4096)
    try:
        delivery = await sender.send(f"http://127.0.0.1:{port}/forever", BODY, HEADERS)
    finally:
        await sender.aclose()

    # Reading on would have run into the timeout (status None); the cap ends it with the status.
    assert delivery.status == 200, delivery
    assert delivery.ok
    assert delivery.excerpt == "x" * 1000
    assert app.disconnected.wait(5), "the sender kept the endless answer open"


async def test_an_answer_that_is_not_utf8_is_decoded_leniently(
    receiver: tuple[Receiver, int], sender: Sender
) -> None:
    _, port = receiver
    delivery = await sender.send(f"http://127.0.0.1:{port}/not-utf8", BODY, HEADERS)

    assert delivery.excerpt == "\ufffd\ufffdok"


async def test_a_receiver_that_hangs_times_out(receiver: tuple[Receiver, int]) -> None:
    app, port = receiver
    sender = Sender(allow_private=True, timeout=0.5)
    try:
        delivery = await sender.send(f"http://127.0.0.1:{port}/hang", BODY, HEADERS)
    finally:
        await sender.aclose()

    assert delivery.status is None, delivery
    assert delivery.error == "no answer within 0.5 s"
    assert not delivery.ok
    assert [hit.path for hit in app.hits] == ["/hang"]  # it did arrive; the answer did not


async def test_the_timeout_bounds_the_whole_answer(receiver: tuple[Receiver, int]) -> None:
    # A byte every 50 ms: no single read waits long, the answer as a whole never ends.
    app, port = receiver
    sender = Sender(allow_private=True, timeout=0.5)
    try:
        delivery = await sender.send(f"http://127.0.0.1:{port}/dribble", BODY, HEADERS)
    finally:
        await sender.aclose()

    assert delivery.status is None, delivery
    assert delivery.error == "no answer within 0.5 s"
    assert app.disconnected.wait(5), "the sender kept the answer open"


async def test_a_closed_port_gives_no_status(sender: Sender) -> None:
    sock = bound_socket()
    port = sock.getsockname()[1]
    sock.close()  # bound, never listened: nothing answers there

    delivery = await sender.send(f"http://127.0.0.1:{port}/", BODY, HEADERS)

    assert delivery.status is None
    assert not delivery.ok
    assert delivery.error is not None
    assert delivery.error.startswith(f"could not connect to 127.0.0.1:{port}")


async def test_a_malformed_url_is_a_failed_delivery_not_an_exception(sender: Sender) -> None:
    delivery = await sender.send("ftp://example.com/", BODY, HEADERS)

    assert delivery.status is None
    assert delivery.error == "Webhook URLs must start with http:// or https://."


# --- refusing (private addresses not allowed) -------------------------------------------------

REFUSED = [
    ("http://127.0.0.1:{port}/hooks", "loopback"),
    ("http://localhost:{port}/hooks", "resolves to 127.0.0.1, a loopback"),
    ("http://127.1:{port}/hooks", "loopback"),
    ("http://2130706433:{port}/hooks", "loopback"),
    ("http://0.0.0.0:{port}/hooks", "unspecified"),
    ("http://[::1]:{port}/hooks", "loopback"),
    ("http://[::ffff:127.0.0.1]:{port}/hooks", "loopback"),
    ("http://10.0.0.1/hooks", "private"),
    ("http://192.168.1.20:8080/hooks", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "private"),
    ("http://100.64.0.1/hooks", "shared"),
    ("https://224.0.0.1/hooks", "multicast"),
]


@pytest.mark.parametrize(("template", "reason"), REFUSED)
async def test_private_destinations_are_refused_without_connecting(
    receiver: tuple[Receiver, int], template: str, reason: str
) -> None:
    app, port = receiver
    url = template.format(port=port)
    sender = Sender(allow_private=False, timeout=2)
    try:
        with pytest.raises(UnsafeUrl, match="are refused") as refused:
            await sender.check_destination(url)
        delivery = await sender.send(url, BODY, HEADERS)
    finally:
        await sender.aclose()

    assert reason in str(refused.value)
    assert delivery.status is None
    assert delivery.error == str(refused.value)
    assert app.hits == []


async def test_an_unknown_host_is_refused_at_the_check_and_fails_at_delivery() -> None:
    sender = Sender(allow_private=False, timeout=5)
    try:
        with pytest.raises(UnsafeUrl, match="could not be found"):
            await sender.check_destination("https://nowhere.invalid/hooks")
        delivery = await sender.send("https://nowhere.invalid/hooks", BODY, HEADERS)
    finally:
        await sender.aclose()

    assert delivery.status is None
    assert delivery.error == "The host nowhere.invalid could not be found."


class RecordingTransport(httpx.AsyncBaseTransport):
    """httpx's own transport, noting where each request was sent."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_the_connection_goes_to_the_address_that_was_resolved(receiver: tuple[Receiver, int]) -> None:
    # httpx is handed the address itself, so it has no name left to resolve again (DNS rebinding).
    app, port = receiver
    transport = RecordingTransport()
    client = httpx.AsyncClient(transport=transport, trust_env=False)
    sender = Sender(allow_private=True, timeout=5, http=client)
    try:
        delivery = await sender.send(f"http://localhost:{port}/hooks", BODY, HEADERS)
    finally:
        await sender.aclose()
        await client.aclose()

    assert delivery.ok, delivery
    [request] = transport.sent
    assert request.url.host == "127.0.0.1"
    assert request.headers["host"] == f"localhost:{port}"
    assert [hit.header("host") for hit in app.hits] == [[f"localhost:{port}"]]


async def test_private_destinations_are_checked_fine_when_allowed(receiver: tuple[Receiver, int]) -> None:
    _, port = receiver
    sender = Sender(allow_private=True)
    try:
        await sender.check_destination(f"http://localhost:{port}/hooks")
    finally:
        await sender.aclose()


# --- the URL and the address rules ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/hooks", "must start with http:// or https://"),
        ("javascript:alert(1)", "must start with http:// or https://"),
        ("//example.com/hooks", "must start with http:// or https://"),
        ("http:///nohost", "must name a host"),
        ("https://:443/hooks", "must name a host"),
        ("http://user:pw@example.com/hooks", "user name or password"),
        ("http://user@example.com/hooks", "user name or password"),
        ("https://example.com/" + "a" * 2000, "at most 2000 characters"),
        ("http://exa mple.com/", "not a valid host name"),
        ("http://example.com:99999/", "not a valid port"),
        ("http://example\n.com/", "not a valid URL"),
    ],
)
def test_check_url_refuses(url: str, message: str) -> None:
    with pytest.raises(UnsafeUrl, match=re.escape(message)):
        check_url(url)


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://example.com/hooks", "https://example.com/hooks"),
        ("  HTTPS://Example.COM:443/Hooks?a=1 ", "https://example.com/Hooks?a=1"),
        ("http://bücher.example/hooks", "http://xn--bcher-kva.example/hooks"),
        ("http://[2606:4700::1]:8080/", "http://[2606:4700::1]:8080/"),
        ("https://example.com/" + "a" * 1980, "https://example.com/" + "a" * 1980),
    ],
)
def test_check_url_normalises(url: str, normalised: str) -> None:
    assert check_url(url) == normalised


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("93.184.216.34", None),
        ("8.8.8.8", None),
        ("2606:4700::1", None),
        ("2a00:1450:4001:80b::200e", None),
        ("::ffff:93.184.216.34", None),  # mapped public IPv4 is public
        ("64:ff9b::5db8:d822", None),  # NAT64 of 93.184.216.34
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("0.0.0.0", "unspecified"),  # noqa: S104 (an address judged, nothing bound)
        ("::", "unspecified"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.0.1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),
        ("::ffff:169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("100.64.0.1", "shared"),
        ("100.127.255.254", "shared"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "private"),  # documentation (TEST-NET-1)
        ("198.18.0.1", "private"),  # benchmarking
        ("2001:db8::1", "private"),  # documentation
        ("::7f00:1", "reserved"),  # IPv4-compatible, deprecated
        ("fec0::1", "site-local"),
    ],
)
def test_address_classification(address: str, reason: str | None) -> None:
    verdict = forbidden_reason(ipaddress.ip_address(address))
    if reason is None:
        assert verdict is None
    else:
        assert verdict is not None
        assert reason in verdict


# --- https: the checked address, the real name ------------------------------------------------


@dataclass
class TlsReceiver:
    port: int
    server_names: list[str | None]
    requests: list[bytes]


def _certificates(tmp_path: Path, name: str) -> tuple[str, Path, Path]:
    """A CA (its PEM) and a certificate for `name` alone, no IP address, signed by it (files)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tollgate test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca.public_bytes(serialization.Encoding.PEM).decode(), cert_file, key_file


async def _tls_receiver(cert_file: Path, key_file: Path) -> tuple[asyncio.Server, TlsReceiver]:
    """A minimal HTTPS server on loopback that records the SNI name and each request."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    state = TlsReceiver(port=0, server_names=[], requests=[])
    context.sni_callback = lambda _sock, name, _ctx: state.server_names.append(name)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            body = await reader.readexactly(int(length[1]) if length else 0)
            state.requests.append(head + body)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nreceived")
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    state.port = server.sockets[0].getsockname()[1]
    return server, state


async def _send_over_tls(tmp_path: Path, certified_name: str) -> tuple[TlsReceiver, Any]:
    ca_pem, cert_file, key_file = _certificates(tmp_path, certified_name)
    server, state = await _tls_receiver(cert_file, key_file)
    client = httpx.AsyncClient(verify=ssl.create_default_context(cadata=ca_pem), trust_env=False)
    sender = Sender(allow_private=True, timeout=5, http=client)
    try:
        delivery = await sender.send(f"https://localhost:{state.port}/hooks", BODY, HEADERS)
    finally:
        await sender.aclose()
        await client.aclose()
        server.close()
        await server.wait_closed()
    return state, delivery


async def test_https_goes_to_the_checked_address_under_the_real_name(tmp_path: Path) -> None:
    # The certificate names only "localhost": had TLS used the address connected to (127.0.0.1)
    # as its name, the certificate check would fail.
    state, delivery = await _send_over_tls(tmp_path, "localhost")

    assert delivery.ok, delivery
    assert delivery.excerpt == "received"
    assert state.server_names == ["localhost"]
    [request] = state.requests
    assert f"\r\nhost: localhost:{state.port}\r\n".encode() in request.lower()
    assert request.endswith(BODY)


async def test_https_checks_the_certificate_against_the_real_name(tmp_path: Path) -> None:
    state, delivery = await _send_over_tls(tmp_path, "elsewhere.example")

    assert delivery.status is None
    assert delivery.error is not None
    assert "certificate" in delivery.error.lower()
    assert state.requests == []
