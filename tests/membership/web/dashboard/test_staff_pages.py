"""The dashboard's staff and keys (`/account/publications/{slug}/staff`): owners add readers by
email, change roles and remove people, never the last owner; editors see the staff read-only and
no keys; an API key made here shows its secret once, and that secret then works, until revoked.
Plain forms, the Origin check, and mistakes as sentences. Both databases.
"""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from membership.apikeys.models import ApiKey
from membership.publications.models import Publication, StaffMember
from membership.readers.models import Reader
from tests.membership.publications.test_publications import as_reader
from tests.membership.tokens.test_tokens import db
from tests.membership.web.account.test_account_pages import assert_page, text_of
from tests.membership.web.dashboard.test_dashboard_pages import (
    DAILY,
    assert_accessible,
    follow,
    owner_of_daily,
    post,
)

STAFF = f"{DAILY}/staff"


async def staff_of(database_url: str, slug: str = "daily") -> dict[str, str]:
    """The publication's staff in the database, email to role."""
    async with db(database_url) as session:
        rows = await session.execute(
            select(Reader.email, StaffMember.role)
            .join(StaffMember, StaffMember.reader_id == Reader.id)
            .join(Publication, Publication.id == StaffMember.publication_id)
            .where(Publication.slug == slug)
        )
        return dict(rows.tuples().all())


async def keys_of(database_url: str) -> list[tuple[str, bool]]:
    """Every API key in the database: its name, and whether it is revoked."""
    async with db(database_url) as session:
        keys = await session.scalars(select(ApiKey).order_by(ApiKey.created_at))
        return [(k.name, k.revoked_at is not None) for k in keys]


async def reader_of(database_url: str, email: str) -> str:
    async with db(database_url) as session:
        found = await session.scalar(select(Reader.id).where(Reader.email == email))
    assert found is not None, email
    return str(found)


# --- staff ----------------------------------------------------------------------------------


async def test_an_owner_adds_an_editor_by_email_changes_the_role_and_removes_them(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    page = await client.get(STAFF)
    assert_page(page, 200, "owner@example.com (you) owner Owner", "Add to the staff", "No API keys yet.")
    assert_accessible(page.text)
    assert page.headers["cache-control"] == "no-store"
    assert 'href="/account/publications/daily/staff" aria-current="page">Staff and keys' in page.text

    # A reader who has never signed in gets an account, as with comps.
    async with db(database_url) as session:
        assert await session.scalar(select(Reader.id).where(Reader.email == "new.editor@example.com")) is None
    added = await post(client, STAFF, {"email": "New.Editor@Example.com", "role": "editor"})
    assert added.status_code == 303 and added.headers["location"] == STAFF
    shown = await follow(client, added)
    assert_page(
        shown,
        200,
        "new.editor@example.com is an editor of Daily; they sign in with that address.",
        "new.editor@example.com new.editor Editor",
    )
    assert await staff_of(database_url) == {"owner@example.com": "owner", "new.editor@example.com": "editor"}
    editor = await reader_of(database_url, "new.editor@example.com")

    # Mistakes re-show the form with a sentence and what was typed; nothing changes.
    for form, status, sentence in [
        ({"email": "new.editor@example.com", "role": "editor"}, 409, "is already on the staff of Daily."),
        ({"email": "not-an-address", "role": "editor"}, 400, "Give the reader's email address"),
        ({"email": "chief@example.com", "role": "boss"}, 400, "Choose a role: owner or editor."),
    ]:
        answer = await post(client, STAFF, form)
        assert_page(answer, status, sentence)
        assert f'value="{form["email"]}"' in answer.text
    assert set(await staff_of(database_url)) == {"owner@example.com", "new.editor@example.com"}

    promoted = await follow(client, await post(client, f"{STAFF}/{editor}/role", {"role": "owner"}))
    assert_page(promoted, 200, "new.editor@example.com is now an owner of Daily.")
    assert (await staff_of(database_url))["new.editor@example.com"] == "owner"
    assert_page(await post(client, f"{STAFF}/{editor}/role", {"role": "nobody"}), 400, "Choose a role")

    removed = await follow(client, await post(client, f"{STAFF}/{editor}/remove"))
    words = assert_page(removed, 200, "new.editor@example.com is no longer on the staff of Daily.")
    assert "new.editor@example.com new.editor" not in words
    assert await staff_of(database_url) == {"owner@example.com": "owner"}
    assert_page(
        await post(client, f"{STAFF}/{editor}/remove"), 404, "That reader is not on this publication's staff."
    )
    assert_page(await post(client, f"{STAFF}/not-a-reader/remove"), 404, "There is no such staff member.")


async def test_an_editor_sees_the_staff_read_only_no_keys_and_is_refused_every_change(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    await post(client, STAFF, {"email": "ed@example.com", "role": "editor"})
    made = await post(client, f"{STAFF}/keys", {"name": "Secret sync", "scopes": ["staff:read"]})
    assert made.status_code == 201
    secret = re.search(r'id="made-secret" type="text" readonly value="([^"]+)"', made.text)
    assert secret
    async with db(database_url) as session:
        key_id = (await session.scalars(select(ApiKey.id))).one()
    owner = await reader_of(database_url, "owner@example.com")

    await as_reader(client, "ed@example.com")
    page = await client.get(STAFF)
    words = assert_page(
        page,
        200,
        "owner@example.com owner Owner",
        "ed@example.com (you) ed Editor",
        "Only owners of Daily can add, change or remove staff and see its API keys.",
    )
    assert_accessible(page.text)
    assert '<h2 id="keys">' not in page.text and "Make a key" not in words
    assert "Secret sync" not in words and secret.group(1)[:12] not in page.text
    assert "<form" not in page.text  # nothing to send

    for path, form in [
        (STAFF, {"email": "friend@example.com", "role": "owner"}),
        (f"{STAFF}/{owner}/role", {"role": "editor"}),
        (f"{STAFF}/{owner}/remove", {}),
        (f"{STAFF}/keys", {"name": "Mine", "scopes": ["members:read"]}),
        (f"{STAFF}/keys/{key_id}/revoke", {}),
    ]:
        refused = await post(client, path, form)
        words = assert_page(refused, 403, "Not for you", "Only owners of Daily may do this.")
        assert "application/problem+json" not in refused.headers["content-type"]
    assert await staff_of(database_url) == {"owner@example.com": "owner", "ed@example.com": "editor"}
    assert await keys_of(database_url) == [("Secret sync", False)]
    # The JSON API agrees: an editor lists no keys either.
    assert (await client.get("/api/publications/daily/api-keys")).status_code == 403


async def test_the_last_owner_can_neither_leave_nor_become_an_editor(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    owner = await reader_of(database_url, "owner@example.com")
    sentence = "A publication keeps at least one owner; make someone else owner first."
    for path, form in [(f"{STAFF}/{owner}/remove", {}), (f"{STAFF}/{owner}/role", {"role": "editor"})]:
        answer = await post(client, path, form)
        assert_page(answer, 409, sentence, "owner@example.com (you) owner Owner")
        assert await staff_of(database_url) == {"owner@example.com": "owner"}

    # With a second owner, the first may step down, then leave: back to their publications.
    await post(client, STAFF, {"email": "heir@example.com", "role": "owner"})
    stepped = await follow(client, await post(client, f"{STAFF}/{owner}/role", {"role": "editor"}))
    words = assert_page(stepped, 200, "You are now an editor of Daily.", "Only owners of Daily can")
    assert "Add to the staff" not in words
    await as_reader(client, "heir@example.com")
    heir = await reader_of(database_url, "heir@example.com")
    assert_page(await post(client, f"{STAFF}/{heir}/remove"), 409, sentence)
    back = await post(client, f"{STAFF}/{owner}/role", {"role": "owner"})
    assert_page(await follow(client, back), 200, "owner@example.com is now an owner of Daily.")
    gone = await post(client, f"{STAFF}/{heir}/remove")
    assert gone.headers["location"] == "/account/publications"
    assert_page(await follow(client, gone), 200, "You are no longer on the staff of Daily.")
    assert await staff_of(database_url) == {"owner@example.com": "owner"}
    assert_page(await client.get(STAFF), 403, "Only readers on the staff of Daily may do this.")


async def test_a_staff_form_from_another_site_is_refused(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    owner = await reader_of(database_url, "owner@example.com")
    await post(client, STAFF, {"email": "ed@example.com", "role": "editor"})
    editor = await reader_of(database_url, "ed@example.com")
    for path, form in [
        (STAFF, {"email": "evil@example.com", "role": "owner"}),
        (f"{STAFF}/{editor}/role", {"role": "owner"}),
        (f"{STAFF}/{editor}/remove", {}),
        (f"{STAFF}/{owner}/remove", {}),
        (f"{STAFF}/keys", {"name": "Exfiltrate", "scopes": ["members:read"]}),
    ]:
        answer = await post(client, path, form, origin="https://evil.example")
        assert_page(answer, 403, "This form may only be sent from a page of this site.")
        assert "tgk_" not in answer.text
    assert await staff_of(database_url) == {"owner@example.com": "owner", "ed@example.com": "editor"}
    assert await keys_of(database_url) == []


# --- API keys -------------------------------------------------------------------------------


async def test_a_key_made_here_shows_its_secret_once_works_and_stops_when_revoked(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    made = await post(
        client, f"{STAFF}/keys", {"name": "Newsletter", "scopes": ["staff:read", "members:read"]}
    )
    # The answer is the page itself, never a redirect: the secret is in no address and no cookie.
    assert made.status_code == 201 and "location" not in made.headers
    assert made.headers["cache-control"] == "no-store"
    found = re.search(r'id="made-secret" type="text" readonly value="([^"]+)"', made.text)
    assert found, text_of(made)
    secret = found.group(1)
    assert secret.startswith("tgk_")
    assert all(secret not in c for c in made.headers.get_list("set-cookie"))
    words = assert_page(
        made,
        201,
        "The API key “Newsletter” is made. Copy its secret now: it is shown only this once",
        f"Newsletter {secret[:12]}… List a publication's members and subscribers, their history, "
        "the CSV export. ( members:read ) List a publication's staff. ( staff:read )",
        "by owner In use",
    )
    assert_accessible(made.text)
    assert words.count(secret) == 0  # only in the field's value, not in the page's words

    again = await client.get(STAFF)
    assert secret not in again.text  # shown once
    assert_page(again, 200, f"Newsletter {secret[:12]}…", "by owner In use")

    # The secret authenticates, with the scopes chosen and this publication.
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {secret}"}
    me = await client.get("/api/service/key", headers=bearer)
    assert me.status_code == 200, me.text
    assert me.json()["name"] == "Newsletter" and me.json()["scopes"] == ["members:read", "staff:read"]
    staff = await client.get("/api/publications/daily/staff", headers=bearer)
    assert staff.status_code == 200 and [s["email"] for s in staff.json()] == ["owner@example.com"]

    await as_reader(client, "owner@example.com")
    key_id = me.json()["id"]
    revoked = await post(client, f"{STAFF}/keys/{key_id}/revoke")
    words = assert_page(
        await follow(client, revoked), 200, "The API key “Newsletter”", "is revoked", "Revoked"
    )
    assert "Revoke the key Newsletter" not in words
    client.cookies.clear()
    after = await client.get("/api/service/key", headers=bearer)
    assert after.status_code == 401 and "revoked" in after.json()["detail"]
    assert await keys_of(database_url) == [("Newsletter", True)]


async def test_a_key_form_with_a_mistake_says_so_and_makes_nothing(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await owner_of_daily(client, database_url)
    for form, sentence in [
        ({"name": "", "scopes": ["staff:read"]}, "Give the key a name"),
        ({"name": "Sync"}, "Choose at least one thing the key may do."),
        (
            {"name": "Sync", "scopes": ["staff:read", "everything"]},
            "There is no permission called everything.",
        ),
        ({"name": "x" * 101, "scopes": ["staff:read"]}, "A key's name is at most 100 characters."),
    ]:
        answer = await post(client, f"{STAFF}/keys", form)
        assert_page(answer, 400, sentence)
        assert "made-secret" not in answer.text
        if form["name"] == "Sync":
            assert 'value="Sync"' in answer.text  # what was typed stays
    kept = await post(client, f"{STAFF}/keys", {"name": "Sync", "scopes": ["staff:read", "everything"]})
    assert re.search(r'value="staff:read" checked', kept.text)
    assert await keys_of(database_url) == []
    assert_page(await post(client, f"{STAFF}/keys/not-a-key/revoke"), 404, "There is no such API key.")
    assert_page(
        await post(client, f"{STAFF}/keys/00000000-0000-0000-0000-000000000000/revoke"),
        404,
        "No such API key.",
    )
