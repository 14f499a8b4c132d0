"""TokenVerifier against a real fake issuer: what it accepts, and each forgery it refuses and why."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest

from tests.client.conftest import (
    DROP,
    FakeMembership,
    SigningKey,
    VerifierFactory,
    b64,
    forge,
    hmac_signer,
    segment,
    serve_on,
)
from tests.servers import bound_socket
from tollgate_client import (
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

Keys = dict[str, SigningKey]


@pytest.mark.parametrize("name", ["ed", "es", "rs"])
async def test_a_good_token_verifies_and_returns_typed_claims(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory, name: str
) -> None:
    verifier = make_verifier()
    token = membership.mint(keys[name], sub="0b7f3c1e-0000-4000-8000-000000000001", ver=7, sid="s1")

    claims = await verifier.verify(token)

    assert isinstance(claims, AccessClaims)
    assert claims.sub == "0b7f3c1e-0000-4000-8000-000000000001"
    assert claims.ent == ("member", "pub:the-gazette")
    assert claims.ver == 7
    assert claims.sid == "s1"
    assert claims.iss == membership.url
    assert claims.aud == "tollgate"
    assert claims.exp > claims.iat
    assert claims.allows("pub:other", "member")
    assert not claims.allows("pub:other")
    assert verifier.ready


async def test_a_repeated_token_comes_from_the_cache_without_refetching(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    verifier = make_verifier()
    token = membership.mint(keys["ed"])

    first = await verifier.verify(token)
    fetches = membership.jwks_fetches
    again = [await verifier.verify(token) for _ in range(50)]

    assert fetches == 1
    assert membership.jwks_fetches == 1
    assert all(claims is first for claims in again)


async def test_the_cache_is_bounded(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    verifier = make_verifier(cache_size=3)
    tokens = [membership.mint(keys["ed"]) for _ in range(5)]
    for token in tokens:
        await verifier.verify(token)

    assert len(verifier._cache) == 3
    assert list(verifier._cache) == tokens[2:]


async def test_fractional_numeric_dates_are_accepted(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    now = time.time()
    token = membership.mint(keys["ed"], iat=now, nbf=now, exp=now + 60.5)

    claims = await make_verifier().verify(token)

    assert claims.exp == int(now + 60.5)


async def test_a_small_clock_skew_is_within_the_leeway(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    now = int(time.time())
    verifier = make_verifier(leeway=30)

    await verifier.verify(membership.mint(keys["ed"], exp=now - 10))
    await verifier.verify(membership.mint(keys["ed"], nbf=now + 10, iat=now + 10))


# --- algorithm attacks ---


async def test_alg_none_is_refused(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    for alg in ("none", "None", "NONE"):
        token = forge({"alg": alg, "typ": "at+jwt", "kid": keys["ed"].kid}, membership.claims())
        with pytest.raises(BadSignature):
            await make_verifier().verify(token)
        # Without a signature segment at all, too.
        with pytest.raises(InvalidToken):
            await make_verifier().verify(token.rstrip("."))


@pytest.mark.parametrize("secret", ["pem", "raw"])
async def test_hs256_signed_with_the_public_key_is_refused(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory, secret: str
) -> None:
    """The key-confusion attack: the attacker HMACs with the public key, hoping it is used as the secret."""
    for name in ("ed", "es", "rs"):
        key = keys[name]
        material = key.public_pem if secret == "pem" else json.dumps(key.jwk).encode()
        token = forge(
            {"alg": "HS256", "typ": "at+jwt", "kid": key.kid}, membership.claims(), hmac_signer(material)
        )
        with pytest.raises(BadSignature, match="algorithm not allowed"):
            await make_verifier().verify(token)


async def test_hmac_algorithms_cannot_be_configured(membership: FakeMembership) -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        TokenVerifier(membership.jwks_url, issuer=membership.url, algorithms=("EdDSA", "HS256"))


async def test_a_header_alg_other_than_the_keys_own_is_refused(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    # Signed with the P-256 key, but naming the Ed25519 key: the header cannot choose the algorithm.
    token = membership.mint(keys["es"], headers={"kid": keys["ed"].kid})

    with pytest.raises(BadSignature, match="does not match the key"):
        await make_verifier().verify(token)


async def test_an_algorithm_outside_the_configured_list_is_refused(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    verifier = make_verifier(algorithms=("EdDSA",))

    await verifier.verify(membership.mint(keys["ed"]))
    with pytest.raises(BadSignature):
        await verifier.verify(membership.mint(keys["rs"]))
    assert keys["rs"].kid not in verifier.key_ids


# --- key lookup ---


async def test_an_unknown_kid_is_refused_and_refetches_at_most_once_per_cooldown(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    verifier = make_verifier(unknown_kid_cooldown=0.5)
    await verifier.start()
    assert membership.jwks_fetches == 1
    await asyncio.sleep(0.55)

    token = membership.mint(keys["ed2"])
    for _ in range(20):
        with pytest.raises(UnknownKey):
            await verifier.verify(token)
    assert membership.jwks_fetches == 2

    await asyncio.sleep(0.55)
    with pytest.raises(UnknownKey):
        await verifier.verify(token)
    assert membership.jwks_fetches == 3


async def test_concurrent_unknown_kids_share_one_refetch(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    verifier = make_verifier(unknown_kid_cooldown=0.0)
    await verifier.start()
    membership.keys.append(keys["ed2"])
    token = membership.mint(keys["ed2"])

    results = await asyncio.gather(*(verifier.verify(token) for _ in range(10)))

    assert {claims.jti for claims in results} == {results[0].jti}
    assert membership.jwks_fetches == 2


@pytest.mark.parametrize(
    "kid", ["../../etc/passwd", "/.well-known/../../etc/passwd", "1' OR '1'='1", "%2e%2e%2f", "x" * 5000]
)
async def test_a_kid_with_path_or_sql_characters_is_only_looked_up(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory, kid: str
) -> None:
    verifier = make_verifier(unknown_kid_cooldown=0.0)
    await verifier.start()
    token = membership.mint(keys["ed"], headers={"kid": kid})

    with pytest.raises((UnknownKey, MalformedToken)):
        await verifier.verify(token)

    assert set(membership.requests) == {"/.well-known/jwks.json"}


async def test_a_token_without_kid_is_refused(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    token = forge({"alg": "EdDSA", "typ": "at+jwt"}, membership.claims(), keys["ed"].private.sign)

    with pytest.raises(MalformedToken, match="kid"):
        await make_verifier().verify(token)


@pytest.mark.parametrize("header", ["jku", "x5u"])
async def test_jku_and_x5u_pointing_at_an_attacker_are_never_followed(
    membership: FakeMembership,
    attacker: FakeMembership,
    keys: Keys,
    make_verifier: VerifierFactory,
    header: str,
) -> None:
    verifier = make_verifier(unknown_kid_cooldown=0.0)
    await verifier.start()
    url = attacker.jwks_url if header == "jku" else f"{attacker.url}/cert.pem"

    # The attacker's own kid: unknown here, whatever the header says.
    with pytest.raises(UnknownKey):
        await verifier.verify(membership.mint(keys["attacker"], headers={header: url}))
    # The issuer's kid, the attacker's signature: the issuer's key does not match it.
    with pytest.raises(BadSignature):
        await verifier.verify(membership.mint(keys["attacker"], headers={header: url, "kid": keys["ed"].kid}))

    assert attacker.requests == []
    assert set(membership.requests) == {"/.well-known/jwks.json"}


async def test_an_embedded_jwk_or_x5c_is_never_used(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    verifier = make_verifier()
    attacker_jwk = keys["attacker"].jwk
    junk_cert = base64.b64encode(b"not a certificate").decode()

    with pytest.raises(UnknownKey):
        await verifier.verify(membership.mint(keys["attacker"], headers={"jwk": attacker_jwk}))
    with pytest.raises(BadSignature):
        await verifier.verify(
            membership.mint(keys["attacker"], headers={"jwk": attacker_jwk, "kid": keys["ed"].kid})
        )
    with pytest.raises(BadSignature):
        await verifier.verify(
            membership.mint(keys["attacker"], headers={"x5c": [junk_cert], "kid": keys["ed"].kid})
        )


# --- claims ---


async def test_an_expired_token_is_refused(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    now = int(time.time())
    token = membership.mint(keys["ed"], iat=now - 600, nbf=now - 600, exp=now - 120)

    with pytest.raises(TokenExpired):
        await make_verifier().verify(token)


async def test_a_cached_token_is_refused_once_it_expires(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    verifier = make_verifier(leeway=0)
    token = membership.mint(keys["ed"], exp=int(time.time()) + 1)
    await verifier.verify(token)

    await asyncio.sleep(2.1)

    with pytest.raises(TokenExpired):
        await verifier.verify(token)
    assert token not in verifier._cache


async def test_a_token_not_yet_valid_is_refused(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    now = int(time.time())

    with pytest.raises(TokenNotYetValid):
        await make_verifier().verify(membership.mint(keys["ed"], nbf=now + 120))
    with pytest.raises(TokenNotYetValid):
        await make_verifier().verify(membership.mint(keys["ed"], iat=now + 120, nbf=now + 120))


async def test_an_issue_time_in_the_future_alone_is_refused(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    now = int(time.time())

    with pytest.raises(TokenNotYetValid):
        await make_verifier().verify(membership.mint(keys["ed"], iat=now + 120, nbf=now))


async def test_the_times_are_read_from_the_verifiers_clock(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    # A gateway following the Stripe sandbox's clock a month ahead, and tokens made on that clock.
    month = 31 * 86400
    now = int(time.time())
    moment = [time.time() + month]
    ahead = make_verifier(clock=lambda: moment[0], leeway=0)
    future = membership.mint(keys["ed"], iat=now + month, nbf=now + month, exp=now + month + 300)
    today = membership.mint(keys["ed"], iat=now, nbf=now, exp=now + 300)

    assert (await ahead.verify(future)).exp == now + month + 300
    with pytest.raises(TokenExpired):
        await ahead.verify(today)
    with pytest.raises(TokenNotYetValid):
        await make_verifier().verify(future)  # the wall clock's verifier

    moment[0] += 600  # the cached token lapses on the same clock
    with pytest.raises(TokenExpired):
        await ahead.verify(future)


@pytest.mark.parametrize("iss", ["http://evil.example", "http://127.0.0.1", "", None])
async def test_a_wrong_issuer_is_refused(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory, iss: str | None
) -> None:
    # "http://127.0.0.1" is a prefix of the real issuer: the match must be exact.
    token = membership.mint(keys["ed"], iss=iss if iss is not None else DROP)

    with pytest.raises(WrongIssuer if iss is not None else MalformedToken):
        await make_verifier().verify(token)


@pytest.mark.parametrize("aud", ["gateway", ["other", "another"], "tollgat"])
async def test_a_wrong_audience_is_refused(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory, aud: object
) -> None:
    with pytest.raises(WrongAudience):
        await make_verifier().verify(membership.mint(keys["ed"], aud=aud))


async def test_an_audience_list_holding_ours_is_accepted(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    claims = await make_verifier().verify(membership.mint(keys["ed"], aud=["other", "tollgate"]))

    assert claims.aud == ("other", "tollgate")


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "sub", "iss", "aud"])
async def test_a_missing_required_claim_is_refused(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory, claim: str
) -> None:
    token = membership.mint(keys["ed"], **{claim: DROP})

    with pytest.raises(MalformedToken, match=claim):
        await make_verifier().verify(token)


@pytest.mark.parametrize(
    "overrides",
    [{"ver": "7"}, {"ver": True}, {"ent": "member"}, {"ent": [1, 2]}, {"sub": 42}, {"exp": "soon"}],
)
async def test_claims_of_the_wrong_type_are_refused(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory, overrides: dict[str, Any]
) -> None:
    with pytest.raises(MalformedToken):
        await make_verifier().verify(membership.mint(keys["ed"], **overrides))


async def test_a_tampered_payload_is_refused(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    header, _, signature = membership.mint(keys["ed"]).split(".")
    richer = membership.claims(ent=["member", "pub:everything"])

    with pytest.raises(BadSignature):
        await make_verifier().verify(f"{header}.{segment(richer)}.{signature}")


async def test_a_stripped_signature_is_refused(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    header, payload, _ = membership.mint(keys["ed"]).split(".")
    verifier = make_verifier()

    with pytest.raises(BadSignature):
        await verifier.verify(f"{header}.{payload}.")
    with pytest.raises(MalformedToken):
        await verifier.verify(f"{header}.{payload}")


@pytest.mark.parametrize("typ", ["signin+jwt", "friend+jwt", "JWT", "", None])
async def test_another_kind_of_token_is_not_an_access_token(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory, typ: str | None
) -> None:
    """Sign-in and friend-link tokens are signed by the same keys; only `typ` tells them apart."""
    token = membership.mint(keys["ed"], headers={"typ": typ} if typ is not None else {})
    if typ is None:
        header, rest = token.split(".", 1)
        decoded = json.loads(base64.urlsafe_b64decode(header + "=="))
        decoded.pop("typ", None)
        token = f"{segment(decoded)}.{rest}"

    with pytest.raises(WrongType):
        await make_verifier().verify(token)


async def test_typ_is_compared_as_a_media_type(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    await make_verifier().verify(membership.mint(keys["ed"], headers={"typ": "application/AT+JWT"}))


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b.c", "....", "eyJ.eyJ.sig", b64(b"[1]") + ".e30.", "x" * 20_000, None, b"a.b.c"],
)
async def test_garbage_is_malformed(
    membership: FakeMembership, make_verifier: VerifierFactory, token: Any
) -> None:
    with pytest.raises(InvalidToken) as caught:
        await make_verifier().verify(token)
    assert type(caught.value) in {MalformedToken, BadSignature, WrongType}
    assert caught.value.reason


# --- keys over time ---


async def test_a_retired_key_stops_verifying_once_it_leaves_the_jwks(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    verifier = make_verifier()
    old_token = membership.mint(keys["ed"])
    await verifier.verify(old_token)

    # Rotation: the new key signs, the old one stays published a while, then leaves.
    membership.keys = [keys["ed2"], keys["ed"]]
    assert await verifier.refresh()
    new_token = membership.mint(keys["ed2"])
    await verifier.verify(new_token)
    await verifier.verify(old_token)

    membership.keys = [keys["ed2"]]
    assert await verifier.refresh()

    with pytest.raises(UnknownKey):
        await verifier.verify(old_token)
    with pytest.raises(UnknownKey):
        await verifier.verify(membership.mint(keys["ed"]))
    assert (await verifier.verify(new_token)).jti


async def test_the_background_refresh_picks_up_a_new_key(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    # A long cooldown: only the background refresh can bring the new key in.
    verifier = make_verifier(refresh_interval=0.1, unknown_kid_cooldown=3600)
    await verifier.start()
    membership.keys = [*membership.keys, keys["ed2"]]

    deadline = time.monotonic() + 5
    while keys["ed2"].kid not in verifier.key_ids:
        assert time.monotonic() < deadline, "the new key never arrived"
        await asyncio.sleep(0.05)

    await verifier.verify(membership.mint(keys["ed2"]))


async def test_jwks_down_at_first_use_means_keys_unavailable(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory, dead_url: str
) -> None:
    verifier = make_verifier(jwks_url=f"{dead_url}/.well-known/jwks.json", unknown_kid_cooldown=0.0)
    token = membership.mint(keys["ed"])

    with pytest.raises(KeysUnavailable):
        await verifier.verify(token)
    await verifier.start()
    with pytest.raises(KeysUnavailable):
        await verifier.verify(token)
    assert not verifier.ready


async def test_jwks_answering_errors_at_first_use_means_keys_unavailable(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    membership.down = True
    verifier = make_verifier(unknown_kid_cooldown=0.0)

    with pytest.raises(KeysUnavailable):
        await verifier.verify(membership.mint(keys["ed"]))
    assert not verifier.ready

    membership.down = False
    await verifier.verify(membership.mint(keys["ed"]))
    assert verifier.ready


async def test_first_use_fetches_are_rate_limited_too(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    membership.down = True
    verifier = make_verifier(unknown_kid_cooldown=60)
    for _ in range(10):
        with pytest.raises(KeysUnavailable):
            await verifier.verify(membership.mint(keys["ed"]))

    assert membership.jwks_fetches == 1


@pytest.mark.parametrize(
    "jwks",
    [
        b"<html>not json</html>",
        {"keys": "nope"},
        {"keys": []},
        {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "k", "alg": "HS256"}]},
    ],
    ids=["not-json", "wrong-shape", "no-keys", "no-usable-keys"],
)
async def test_a_bad_jwks_keeps_the_last_good_keys(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory, jwks: object
) -> None:
    verifier = make_verifier()
    await verifier.start()
    before = verifier.key_ids
    membership.jwks_body = jwks

    assert not await verifier.refresh()

    assert verifier.key_ids == before
    assert verifier.ready
    await verifier.verify(membership.mint(keys["ed"]))


async def test_an_erroring_jwks_keeps_the_last_good_keys(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    verifier = make_verifier()
    await verifier.start()
    membership.down = True

    assert not await verifier.refresh()

    assert verifier.ready
    await verifier.verify(membership.mint(keys["ed"]))


async def test_the_last_good_keys_survive_the_issuer_stopping(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    port = bound_socket()
    number = port.getsockname()[1]
    port.close()
    with serve_on(membership.app(), number) as url:
        verifier = make_verifier(jwks_url=f"{url}/.well-known/jwks.json", refresh_interval=0.05)
        await verifier.start()
        assert verifier.ready
    await asyncio.sleep(0.2)  # several background refreshes fail meanwhile

    assert not await verifier.refresh()
    assert (await verifier.verify(membership.mint(keys["ed"]))).sub


async def test_a_jwks_key_whose_curve_does_not_fit_its_alg_is_skipped(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    # An Ed25519 key published as ES256, and an RSA key published as EdDSA: neither is loaded.
    mislabelled = [
        SigningKey("bad-1", "ES256", None, {**keys["ed"].jwk, "kid": "bad-1", "alg": "ES256"}),
        SigningKey("bad-2", "EdDSA", None, {**keys["rs"].jwk, "kid": "bad-2", "alg": "EdDSA"}),
        SigningKey("bad-3", "EdDSA", None, {**keys["ed"].jwk, "kid": "bad-3", "use": "enc"}),
    ]
    membership.keys = [keys["ed"], *mislabelled]
    verifier = make_verifier()
    await verifier.start()

    assert verifier.key_ids == {keys["ed"].kid}


async def test_a_kid_published_twice_is_trusted_for_neither(
    membership: FakeMembership, keys: Keys, make_verifier: VerifierFactory
) -> None:
    twin = SigningKey(keys["ed"].kid, "ES256", None, {**keys["es"].jwk, "kid": keys["ed"].kid})
    membership.keys = [keys["ed"], twin, keys["rs"]]
    verifier = make_verifier()
    await verifier.start()

    assert verifier.key_ids == {keys["rs"].kid}
    with pytest.raises(UnknownKey):
        await verifier.verify(membership.mint(keys["ed"]))
