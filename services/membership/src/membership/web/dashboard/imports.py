"""Import: staff upload a Ghost, Substack or plain CSV export, read the dry run, then confirm it.

The check is a dry run (nothing is written); its page carries the file back in the confirm form,
so the import reads the very rows the staff saw, planned again at that moment. The import runs in
the request's transaction: a row that fails when written answers an error page and the whole run
rolls back. The Stripe prices the account has are listed with their tiers, and one can be mapped.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from membership.imports.formats import Format
from membership.imports.services import ImportReport, MemberImport, Outcome, PriceImport, tier_named
from membership.plans.services import PlanService
from membership.publications.models import Publication
from membership.settings import Settings
from membership.web.dashboard.pages import DashboardSection, base_of, done, page
from membership.web.guards import same_origin
from tollgate_common.problems import BadRequest, TollgateError
from tollgate_common.words import money

MAX_FILE = 5 * 1024 * 1024  # a CSV of some 50,000 members
FORMATS = [
    ("auto", "Tell from the header"),
    ("ghost", "Ghost"),
    ("substack", "Substack"),
    ("plain", "Plain CSV"),
]


def _choice(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _format(form: Any) -> Format:
    try:
        return Format(_choice(form, "format") or "auto")
    except ValueError as exc:
        raise BadRequest("Choose the file's format from the list.") from exc


def _rows(report: ImportReport) -> list[dict[str, Any]]:
    words = {Outcome.CREATE: "New reader", Outcome.MATCH: "Matched", Outcome.SKIP: "Skipped"}
    return [
        {
            "line": r.line,
            "email": r.email,
            "outcome": words[r.outcome],
            "what": r.reason if r.outcome is Outcome.SKIP else ("; ".join(r.does) or "already imported"),
        }
        for r in report.rows
    ]


class ImportPages(DashboardSection):
    # --- imports ---

    async def _page(
        self,
        request: Request[Any, Any, Any],
        publication: Publication,
        plans: PlanService,
        prices: PriceImport,
        *,
        error: TollgateError | None = None,
        report: ImportReport | None = None,
        carried: dict[str, str] | None = None,
    ) -> Template:
        tiers = await plans.tiers(publication.id)
        listed = []
        for found in await prices.found():
            p = found.remote
            if found.made_by_tollgate and (found.tier is None or found.tier.publication_id != publication.id):
                continue  # another publication's own prices
            amount = money(p.unit_amount, p.currency) if p.unit_amount is not None else "no amount"
            listed.append(
                {
                    "id": p.id,
                    "product": p.product_name,
                    "amount": f"{amount} every {p.interval}"
                    if p.interval_count == 1
                    else f"{amount} every {p.interval_count} {p.interval}s",
                    "tier": found.tier.name if found.tier else "",
                    "ours": found.made_by_tollgate,
                }
            )
        context = {
            "publication": publication,
            "section": "imports",
            "formats": FORMATS,
            "tiers": [t.name for t in tiers],
            "prices": listed,
            "error": error.detail if error else "",
            "report": report,
            "rows": _rows(report) if report else [],
            "carried": carried or {},
        }
        return page(request, "imports.html", context, status_code=error.status_code if error else 200)

    @get("/{slug:str}/imports")
    async def imports(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        plans: NamedDependency[PlanService],
        price_imports: NamedDependency[PriceImport],
    ) -> Template:
        return await self._page(request, publication, plans, price_imports)

    @post("/{slug:str}/imports/check", guards=[same_origin], request_max_body_size=MAX_FILE + 64 * 1024)
    async def check(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        plans: NamedDependency[PlanService],
        price_imports: NamedDependency[PriceImport],
        member_imports: NamedDependency[MemberImport],
    ) -> Template:
        """The dry run of the uploaded file; its page asks to confirm."""
        form = await request.form()
        upload = form.get("file")
        try:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise BadRequest("Choose the CSV file to import.")
            raw = await upload.read()
            if len(raw) > MAX_FILE:
                raise BadRequest("The file is larger than 5 MB; split it and import each part.")
            carried = {"format": _choice(form, "format"), "tier": _choice(form, "tier")}
            report = await member_imports.run(
                publication, raw, chosen=_format(form), comp_tier=carried["tier"] or None, dry_run=True
            )
        except TollgateError as exc:
            return await self._page(request, publication, plans, price_imports, error=exc)
        # Byte for byte (a browser would turn the newlines of a plain field into CRLF).
        carried["file"] = base64.b64encode(raw).decode()
        return await self._page(request, publication, plans, price_imports, report=report, carried=carried)

    # The file comes back in base64, in a multipart form (no percent-encoding to grow it more).
    @post("/{slug:str}/imports/run", guards=[same_origin], request_max_body_size=2 * MAX_FILE)
    async def run(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        plans: NamedDependency[PlanService],
        price_imports: NamedDependency[PriceImport],
        member_imports: NamedDependency[MemberImport],
    ) -> Template:
        """The confirmed import; a failure is raised, so the error page rolls the whole run back."""
        form = await request.form()
        try:
            try:
                raw = base64.b64decode(_choice(form, "file"), validate=True)
            except binascii.Error:
                raise BadRequest(
                    "That confirmation is not one of this page's; check the file again."
                ) from None
            report = await member_imports.run(
                publication, raw, chosen=_format(form), comp_tier=_choice(form, "tier") or None, dry_run=False
            )
        except BadRequest as exc:  # nothing was written: the file or a choice is wrong
            return await self._page(request, publication, plans, price_imports, error=exc)
        return await self._page(request, publication, plans, price_imports, report=report)

    @post("/{slug:str}/imports/prices", status_code=303, guards=[same_origin])
    async def map_price(
        self,
        request: Request[Any, Any, Any],
        publication: NamedDependency[Publication],
        settings: NamedDependency[Settings],
        plans: NamedDependency[PlanService],
        price_imports: NamedDependency[PriceImport],
    ) -> Redirect | Template:
        form = await request.form()
        price_id, tier_name = _choice(form, "price"), _choice(form, "tier")
        try:
            if not price_id or not tier_name:
                raise BadRequest("Choose a Stripe price and the tier that takes its subscribers.")
            tier = await tier_named(plans, publication, tier_name)
            await price_imports.map(price_id, tier)
        except TollgateError as exc:
            return await self._page(request, publication, plans, price_imports, error=exc)
        return done(
            settings, base_of(publication, "imports"), f"Subscribers on {price_id} now belong to {tier.name}."
        )
