"""What the clock does to a subscription: trial end, renewal, payment retries, giving up, scheduled ends.

The clock asks `next_due` what happens next to a subscription and when, and calls `run_due` when
that moment comes. A renewal bills the new period; a failed payment makes the subscription
past_due and is retried every two days until `past_due_days` have passed, when Stripe gives up
and cancels it.
"""

from __future__ import annotations

import copy

from stripe_sandbox.billing import collect, draft_invoice, pay, recover, unpaid_invoices
from stripe_sandbox.events import emit, emit_update
from stripe_sandbox.periods import DAY
from stripe_sandbox.state import JSON, Sandbox
from stripe_sandbox.subscriptions import cancel, cycle_end, give_up_at, period, retry_at, set_period

TRIAL_WILL_END_BEFORE = 3 * DAY
# At one moment, a cancellation comes before giving up, a retry, a renewal.
_PRIORITY = {"cancel": 0, "give_up": 1, "retry": 2, "trial_will_end": 3, "renew": 4, "unpause": 5}


def next_due(sb: Sandbox, subscription: JSON) -> tuple[int, int, str] | None:
    """(when, priority, what) happens next to the subscription, or None if nothing ever will."""
    status = subscription["status"]
    if status in ("canceled", "incomplete", "incomplete_expired", "paused"):
        return None
    private = sb.private(subscription["id"])
    due: list[tuple[int, str]] = [(period(subscription)[1], "renew")]
    if subscription["cancel_at"]:
        due.append((subscription["cancel_at"], "cancel"))
    if status == "trialing" and not private.get("trial_will_end_sent"):
        warn_at = subscription["trial_end"] - TRIAL_WILL_END_BEFORE
        if warn_at > subscription["trial_start"]:
            due.append((warn_at, "trial_will_end"))
    if status == "past_due" and "past_due_since" in private:
        due.append((give_up_at(sb, subscription), "give_up"))
        due += [
            (i["next_payment_attempt"], "retry")
            for i in unpaid_invoices(sb, subscription["id"])
            if i["next_payment_attempt"]
        ]
    resumes_at = (subscription["pause_collection"] or {}).get("resumes_at")
    if resumes_at:
        due.append((resumes_at, "unpause"))
    when, what = min(due, key=lambda d: (d[0], _PRIORITY[d[1]]))
    return when, _PRIORITY[what], what


def run_due(sb: Sandbox, subscription: JSON, what: str) -> None:
    if what == "cancel":
        cancel(sb, subscription, at=subscription["cancel_at"])
    elif what == "renew":
        renew(sb, subscription)
    elif what == "retry":
        for invoice in unpaid_invoices(sb, subscription["id"]):
            attempt_at = invoice["next_payment_attempt"]
            if (
                attempt_at
                and attempt_at <= sb.now()
                and pay(sb, invoice, retry_at=retry_at(sb, subscription))
            ):
                recover(sb, invoice)
    elif what == "give_up":
        for invoice in unpaid_invoices(sb, subscription["id"]):
            invoice["next_payment_attempt"] = None
        cancel(sb, subscription, reason="payment_failed")
    elif what == "trial_will_end":
        sb.private(subscription["id"])["trial_will_end_sent"] = True
        emit(sb, "customer.subscription.trial_will_end", subscription)
    elif what == "unpause":
        before = copy.deepcopy(subscription)
        subscription["pause_collection"] = None
        emit_update(sb, "customer.subscription.updated", before, subscription)


def renew(sb: Sandbox, subscription: JSON) -> None:
    """The period ended: start the next one and bill it (a trial's end is a renewal too)."""
    before = copy.deepcopy(subscription)
    private = sb.private(subscription["id"])
    private["cycles"] = private.get("cycles", 1) + 1
    start = period(subscription)[1]
    invoice = draft_invoice(
        sb,
        subscription,
        reason="subscription_cycle",
        lines_period=(start, cycle_end(sb, subscription, private["cycles"])),
    )
    set_period(subscription, start, cycle_end(sb, subscription, private["cycles"]))
    subscription["latest_invoice"] = invoice["id"]
    pause = subscription["pause_collection"]
    if pause:
        _skip_collection(sb, invoice, pause["behavior"])
        if subscription["status"] == "trialing":
            subscription["status"] = "active"
    elif collect(sb, invoice, retry_at=retry_at(sb, subscription, starting=True)):
        if not unpaid_invoices(sb, subscription["id"]):
            subscription["status"] = "active"
            private.pop("past_due_since", None)
    else:
        subscription["status"] = "past_due"
        private.setdefault("past_due_since", sb.now())
    emit_update(sb, "customer.subscription.updated", before, subscription)


def _skip_collection(sb: Sandbox, invoice: JSON, behavior: str) -> None:
    # pause_collection: the invoice is made but nobody is charged.
    emit(sb, "invoice.created", invoice)
    if behavior == "keep_as_draft":
        return
    now = sb.now()
    invoice["status"] = "void" if behavior == "void" else "uncollectible"
    invoice["amount_remaining"] = 0 if behavior == "void" else invoice["amount_due"]
    key = "voided_at" if behavior == "void" else "marked_uncollectible_at"
    invoice["status_transitions"][key] = now
    emit(sb, "invoice.voided" if behavior == "void" else "invoice.marked_uncollectible", invoice)
