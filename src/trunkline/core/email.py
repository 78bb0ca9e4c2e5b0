"""Platform email, sent under the partner's brand and only after the transaction commits.

Every email the platform sends goes through `send_branded_email`:
- From is the partner's Brand From Email, or DEFAULT_FROM_EMAIL with the brand name as the
  display name, so mail reads `"ACME Phones" <no-reply@…>` either way;
- the body ends with a signature naming the brand and its support email, which is also
  the Reply-To;
- a notification `category` is sent only while the partner's matching toggle in
  Settings → Notifications is on; transactional mail (verification, password resets,
  invitations) is always sent;
- the message is written to the outbox (`OutgoingEmail`) in the caller's transaction, so a
  rolled-back change sends nothing and a committed one cannot lose its email; it is
  delivered right after commit, and when the mail server refuses or cannot be reached
  the periodic job `core.emails_deliver` retries it with backoff (1 min, 5 min, 30 min,
  2 h, 6 h) before marking it FAILED;
- attachments are queued as references, `(kind, object id)` such as
  `("tenant_invoice_pdf", "inv_…")`, and drawn only when the email is delivered, by the
  renderer an app registered for the kind (`attachment_renderers_register`): queuing
  thousands of emails in one insert stays cheap, and the file shows the object as it is
  at send time. An object deleted meanwhile is left out (the email still goes); a
  renderer that fails is a failed delivery, retried like a refusing mail server.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from trunkline.core import crypto
from trunkline.core.models import OutgoingEmail

if TYPE_CHECKING:
    from trunkline.accounts.models import Partner

log = logging.getLogger(__name__)

TRANSACTIONAL = "transactional"
NEW_TENANT = "new_tenant"
USAGE_ALERT = "usage_alert"
MONTHLY_REPORT = "monthly_report"
SYSTEM_UPDATE = "system_update"

# Each notification category and the Partner toggle that switches it off.
CATEGORY_TOGGLES: dict[str, str] = {
    NEW_TENANT: "notify_new_tenants",
    USAGE_ALERT: "notify_usage_alerts",
    MONTHLY_REPORT: "notify_monthly_reports",
    SYSTEM_UPDATE: "notify_system_updates",
}
CATEGORIES = frozenset({TRANSACTIONAL, *CATEGORY_TOGGLES})
PLATFORM_BRAND = "Trunkline"

# An attachment as queued: (kind, object id), drawn at delivery by the kind's renderer.
AttachmentRef = tuple[str, str]
# A renderer takes the object id and returns (filename, content, mimetype), or None when
# the object no longer exists.
AttachmentRenderer = Callable[[str], "tuple[str, bytes, str] | None"]
_attachment_renderers: dict[str, AttachmentRenderer] = {}


def attachment_renderers_register(kind: str, renderer: AttachmentRenderer) -> None:
    """Let emails carry attachments of `kind`; apps call this from `AppConfig.ready`."""
    _attachment_renderers[kind] = renderer


class BrandedEmail(NamedTuple):
    """One email of a batch for `send_branded_emails`."""

    partner: Partner | None
    to: str
    subject: str
    body: str
    attachments: Sequence[AttachmentRef] = ()


def _attachment_refs(attachments: Sequence[AttachmentRef]) -> list[list[str]]:
    refs = []
    for kind, object_id in attachments:
        if kind not in _attachment_renderers:
            raise ValueError(f"no renderer registered for attachments of kind {kind!r}")
        refs.append([kind, str(object_id)])
    return refs


def _one_line(text: str) -> str:
    return " ".join((text or "").split())


def brand_name(partner: Partner | None) -> str:
    return _one_line(partner.display_brand) if partner is not None else PLATFORM_BRAND


def from_address(partner: Partner | None) -> str:
    """`"Brand Name" <address>`, quoted so any brand name is a valid display name."""
    address = (partner.brand_from_email if partner is not None else "") or (
        settings.DEFAULT_FROM_EMAIL
    )
    display = brand_name(partner).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{display}" <{address}>'


def signature(partner: Partner | None) -> str:
    lines = ["-- ", brand_name(partner)]
    support = partner.brand_support_email if partner is not None else ""
    if support:
        lines.append(f"Support: {support}")
    return "\n".join(lines)


def category_enabled(partner: Partner | None, category: str) -> bool:
    if category not in CATEGORIES:
        raise ValueError(f"unknown email category {category!r}")
    if category == TRANSACTIONAL or partner is None:
        return True
    from trunkline.accounts.models import Partner

    # Read the toggle from the database: the instance in hand may predate a change.
    toggle = CATEGORY_TOGGLES[category]
    return bool(Partner.objects.filter(pk=partner.pk).values_list(toggle, flat=True).first())


def send_branded_email(
    *,
    partner: Partner | None,
    to: Sequence[str] | str,
    subject: str,
    body: str,
    category: str = TRANSACTIONAL,
    attachments: Sequence[AttachmentRef] = (),
) -> bool:
    """Queue one email for after the current transaction commits.

    `attachments` are references, `(kind, object id)`, drawn when the email is delivered.
    Returns False, sending nothing, when the partner has switched the category off or there
    is nobody to send to.
    """
    recipients = [to] if isinstance(to, str) else [address for address in to if address]
    if not category_enabled(partner, category) or not recipients:
        log.debug("email not sent: category=%s partner=%s", category, getattr(partner, "pk", None))
        return False
    outgoing = _outgoing(partner, recipients, subject, body, category, attachments)
    outgoing.save(force_insert=True)
    # robust: a failure after commit is the outbox's to retry, never a failed request for
    # a change that has already been saved.
    transaction.on_commit(lambda: email_deliver(outgoing.id), robust=True)
    return True


def send_branded_emails(messages: Sequence[BrandedEmail | tuple]) -> int:
    """Queue many transactional emails — `BrandedEmail`s, or (partner, to, subject, body)
    tuples — in one insert, delivered together after the transaction commits (a batch
    job's mail, such as the month-end invoices). Returns how many were queued."""
    emails = [BrandedEmail(*message) for message in messages]
    rows = [
        _outgoing(
            email.partner, [email.to], email.subject, email.body, TRANSACTIONAL, email.attachments
        )
        for email in emails
        if email.to
    ]
    if not rows:
        return 0
    OutgoingEmail.objects.bulk_create(rows, batch_size=500)
    ids = [row.id for row in rows]
    transaction.on_commit(lambda: emails_deliver(ids), robust=True)
    return len(rows)


def _outgoing(
    partner: Partner | None,
    recipients: list[str],
    subject: str,
    body: str,
    category: str,
    attachments: Sequence[AttachmentRef] = (),
) -> OutgoingEmail:
    now = timezone.now()
    message = {
        "subject": _one_line(subject),
        "body": f"{body.rstrip()}\n\n{signature(partner)}\n",
        "from_email": from_address(partner),
        "to": recipients,
        "reply_to": [partner.brand_support_email]
        if partner is not None and partner.brand_support_email
        else [],
    }
    if attachments:
        message["attachments"] = _attachment_refs(attachments)
    outgoing = OutgoingEmail(
        partner=partner,
        category=category,
        recipients=recipients,
        subject=message["subject"][:255],
        next_attempt_at=now,
        created_at=now,
    )
    outgoing.sealed_message = crypto.seal_bytes(
        json.dumps(message).encode(), context=_context(outgoing.id)
    )
    return outgoing


# --- delivery ----------------------------------------------------------------------------

# Waits before the 2nd, 3rd, … attempt; after the last one the email is FAILED.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
# A process that claimed an email and then died leaves it SENDING; after this long another
# may claim it again (so delivery is at least once, as with any mail queue).
CLAIM_TIMEOUT = timedelta(minutes=10)
SENT_KEPT_DAYS = 30
DUE_BATCHES = 20  # batches of 500 one run of the job sends at most


def _context(email_id: str) -> str:
    return f"outgoing_email:{email_id}"


def email_deliver(email_id: str, *, now: datetime | None = None) -> bool:
    """Try to send one queued email now; True when the mail server took it."""
    return emails_deliver([email_id], now=now) == 1


def emails_deliver(email_ids: Sequence[str], *, now: datetime | None = None) -> int:
    """Try to send these queued emails now, over one connection to the mail server;
    returns how many it took.

    The emails are claimed with one conditional UPDATE that stamps them with a token of
    this call, and the mail server is spoken to outside any transaction, so a slow server
    holds no database lock and two processes never send the same claimed email.
    """
    now = now or timezone.now()
    claimable = Q(status=OutgoingEmail.Status.QUEUED, next_attempt_at__lte=now) | Q(
        status=OutgoingEmail.Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT
    )
    token = secrets.token_hex(16)
    claimed = (
        OutgoingEmail.objects.filter(claimable, pk__in=list(email_ids))
        .exclude(sealed_message=None)
        .update(status=OutgoingEmail.Status.SENDING, claimed_at=now, claim_token=token)
    )
    if not claimed:
        return 0
    batch = list(
        OutgoingEmail.objects.filter(claim_token=token, status=OutgoingEmail.Status.SENDING)
    )
    sent: list[OutgoingEmail] = []
    try:
        connection = get_connection()
        connection.open()
    except Exception as error:  # noqa: BLE001 - an unreachable server is retried
        for outgoing in batch:
            _delivery_failed(outgoing, error, now)
        return 0
    try:
        for outgoing in batch:
            fields = json.loads(
                crypto.open_bytes(bytes(outgoing.sealed_message), context=_context(outgoing.id))
            )
            try:
                EmailMessage(
                    subject=fields["subject"],
                    body=fields["body"],
                    from_email=fields["from_email"],
                    to=fields["to"],
                    reply_to=fields["reply_to"] or None,
                    attachments=_attachments_render(outgoing, fields.get("attachments", ())),
                    connection=connection,
                ).send(fail_silently=False)
            except Exception as error:  # noqa: BLE001 - any mail or rendering failure is retried
                _delivery_failed(outgoing, error, now)
            else:
                sent.append(outgoing)
    finally:
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - the messages already went (or failed) above
            log.warning("mail connection did not close cleanly")
    OutgoingEmail.objects.filter(pk__in=[outgoing.id for outgoing in sent]).update(
        status=OutgoingEmail.Status.SENT,
        attempts=F("attempts") + 1,
        sent_at=now,
        sealed_message=None,
        last_error="",
        claimed_at=None,
        claim_token="",
    )
    return len(sent)


def _attachments_render(outgoing: OutgoingEmail, refs) -> list[tuple[str, bytes, str]]:
    """Draw the email's attachments now; an object that is gone is left out."""
    files = []
    for kind, object_id in refs:
        renderer = _attachment_renderers.get(kind)
        if renderer is None:
            raise LookupError(f"no renderer registered for attachments of kind {kind!r}")
        rendered = renderer(object_id)
        if rendered is None:
            log.warning(
                "email %s sent without its %s attachment: %s no longer exists",
                outgoing.id,
                kind,
                object_id,
            )
            continue
        files.append(rendered)
    return files


def _delivery_failed(outgoing: OutgoingEmail, error: Exception, now: datetime) -> None:
    attempts = outgoing.attempts + 1
    gave_up = attempts > len(RETRY_DELAYS)
    OutgoingEmail.objects.filter(pk=outgoing.id).update(
        status=OutgoingEmail.Status.FAILED if gave_up else OutgoingEmail.Status.QUEUED,
        attempts=attempts,
        last_error=f"{type(error).__name__}: {error}"[:300],
        next_attempt_at=now if gave_up else now + RETRY_DELAYS[attempts - 1],
        claimed_at=None,
        claim_token="",
    )
    log.warning(
        "email %s not delivered (attempt %d%s): %s",
        outgoing.id,
        attempts,
        ", giving up" if gave_up else "",
        type(error).__name__,
    )


def emails_deliver_due(*, now: datetime) -> int:
    """Deliver every email whose next attempt is due (and any whose sender died), oldest
    first; remove delivered ones after SENT_KEPT_DAYS. Returns how many were sent."""
    due = OutgoingEmail.objects.filter(
        Q(status=OutgoingEmail.Status.QUEUED, next_attempt_at__lte=now)
        | Q(status=OutgoingEmail.Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT)
    )
    sent = 0
    for _ in range(DUE_BATCHES):
        ids = list(due.order_by("next_attempt_at", "id").values_list("id", flat=True)[:500])
        if not ids:
            break
        sent += emails_deliver(ids, now=now)
    OutgoingEmail.objects.filter(
        status=OutgoingEmail.Status.SENT, sent_at__lt=now - timedelta(days=SENT_KEPT_DAYS)
    ).delete()
    return sent
