"""Reading Ghost's, Substack's and the plain CSV: columns, line numbers, bad cells, bad files."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from membership.imports.formats import Format, parse
from tollgate_common.problems import BadRequest

GHOST = (
    "id,email,name,note,subscribed_to_emails,complimentary_plan,stripe_customer_id,created_at,"
    "deleted_at,labels,tiers\n"
    "6a1,paid@example.com,Pat Paid,,true,false,cus_123,2023-01-05T10:11:12.000Z,,vip,Gold\n"
    '6a2,comp@example.com,"Cam, Comp",,true,true,,2022-06-01T00:00:00.000Z,,,"Gold, Silver"\n'
    "6a3,free@example.com,,,false,false,,2024-02-03T04:05:06.000Z,,,\n"
    "6a4,gone@example.com,,,false,false,,2024-02-03T04:05:06.000Z,2024-05-01T00:00:00.000Z,,\n"
)


def test_ghost_paid_comp_free_and_deleted_members() -> None:
    found, rows = parse(GHOST.encode())
    assert found is Format.GHOST
    paid, comp, free, gone = rows
    assert (paid.line, paid.email, paid.name, paid.customer, paid.comp) == (
        2,
        "paid@example.com",
        "Pat Paid",
        "cus_123",
        False,
    )
    assert paid.tiers == ()  # a paying member's tier is their price's, not the export's name for it
    assert paid.signed_up_at == datetime(2023, 1, 5, 10, 11, 12, tzinfo=UTC)
    assert (comp.line, comp.comp, comp.tiers, comp.name) == (3, True, ("Gold", "Silver"), "Cam, Comp")
    assert (free.comp, free.customer, free.tiers) == (False, None, ())
    assert gone.line == 5 and gone.problem.startswith("deleted in Ghost")


def test_substack_types_by_their_dashboard_headers_and_a_stripe_column_if_there_is_one() -> None:
    text = (
        "Email,Name,Subscription type,Stripe customer ID,Created at,Expiry\n"
        "a@example.com,Ann,paid (monthly),cus_a,2021-03-04,\n"
        "b@example.com,,founding,,2021-03-05,\n"
        "c@example.com,,comp,,,2027-01-31\n"
        "d@example.com,,free,,,\n"
    )
    found, rows = parse(text.encode())
    assert found is Format.SUBSTACK
    paid, founding, comp, free = rows
    assert (paid.customer, paid.find_customer) == ("cus_a", False)
    assert (founding.customer, founding.find_customer) == (None, True)  # found by email at Stripe
    assert comp.comp and comp.comp_until == datetime(2027, 2, 1, tzinfo=UTC)  # through the last day
    assert not free.comp and not free.find_customer and free.customer is None


def test_plain_csv_tier_comp_and_customer_with_line_numbers_across_quoted_newlines() -> None:
    text = (
        "email,name,tier,stripe_customer_id,comp_until,signed_up_at\n"
        'one@example.com,"Line\nbreak",Members,,,2020-01-01\n'
        "two@example.com,,Members,cus_2,,\n"
        "three@example.com,,Members,cus_3,2027-05-01,\n"
        "\n"
        "four@example.com,,,,2027-05-01,\n"
        "five@example.com,,,,,yesterday\n"
    )
    found, rows = parse(text.encode())
    assert found is Format.PLAIN
    assert [r.line for r in rows] == [2, 4, 5, 7, 8]
    one, two, three, four, five = rows
    assert one.comp and one.tiers == ("Members",) and one.comp_until is None and one.name == "Line\nbreak"
    assert not two.comp and two.customer == "cus_2"  # paying: its subscriptions decide
    assert three.comp and three.customer == "cus_3"  # a comp beside the customer
    assert four.problem == "comp_until is given but no tier: name the tier the comp opens"
    assert five.problem == "signed_up_at “yesterday” is not a date such as 2024-01-31"


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (b"", "The file is empty"),
        (b"name,tier\nAnn,Gold\n", "no `email` column"),
        (b"email,colour\na@example.com,red\n", "not a Ghost or Substack export"),
        ("email,name\nzoë@example.com,Zoë\n".encode("utf-16"), "not UTF-8"),
    ],
)
def test_a_file_we_cannot_read_is_refused_whole(raw: bytes, said: str) -> None:
    with pytest.raises(BadRequest, match=said):
        parse(raw)


def test_a_plain_csv_refuses_columns_it_does_not_have_rather_than_drop_them() -> None:
    with pytest.raises(BadRequest, match="also has comp_untill"):
        parse(b"email,comp_untill\na@example.com,2027-01-01\n", Format.PLAIN)
    # Chosen formats read what they know: a Ghost file told to be Ghost, whatever else it has.
    found, rows = parse(b"email,extra\na@example.com,x\n", Format.GHOST)
    assert found is Format.GHOST and rows[0].email == "a@example.com"


def test_a_byte_order_mark_and_header_spelling_do_not_matter() -> None:
    found, rows = parse("\ufeffEMAIL , Stripe Customer ID\na@example.com,cus_1\n".encode())
    assert found is Format.PLAIN and rows[0].customer == "cus_1"
