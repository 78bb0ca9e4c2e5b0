"""The email outbox: what a committed change sends is stored first, delivered after commit,
and retried with backoff while the mail server refuses it (core.email)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction

from tests.factories import make_partner
from trunkline.core.email import (
    RETRY_DELAYS,
    email_deliver,
    emails_deliver,
    emails_deliver_due,
    send_branded_email,
    send_branded_emails,
)
from trunkline.core.models import OutgoingEmail

pytestmark = pytest.mark.django_db(transaction=True)

Status = OutgoingEmail.Status


class RefusingBackend(BaseEmailBackend):
    """A mail server that is down: every send raises, as smtplib does."""

    def send_messages(self, messages):
        raise ConnectionRefusedError(111, "Connection refused")


@pytest.fixture
def partner():
    partner, _ = make_partner(company_name="Ozark Voice")
    return partner


@pytest.fixture
def mail_server_down(settings):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"


def test_a_committed_email_is_stored_sent_and_its_body_wiped(partner):
    send_branded_email(
        partner=partner, to="owner@example.com", subject="Reset", body="https://x/reset/SECRET"
    )
    [message] = mail.outbox
    assert "SECRET" in message.body
    [row] = OutgoingEmail.objects.all()
    assert row.status == Status.SENT and row.attempts == 1
    assert row.recipients == ["owner@example.com"] and row.subject == "Reset"
    assert row.sealed_message is None  # the reset link no longer sits in the table


def test_a_rolled_back_change_leaves_no_email_behind(partner):
    with pytest.raises(RuntimeError), transaction.atomic():
        send_branded_email(partner=partner, to="a@example.com", subject="x", body="x")
        raise RuntimeError
    assert OutgoingEmail.objects.count() == 0
    assert mail.outbox == []


def test_the_queued_message_is_sealed_at_rest(partner, mail_server_down):
    send_branded_email(
        partner=partner, to="a@example.com", subject="Invite", body="token=TOPSECRET123"
    )
    row = OutgoingEmail.objects.get()
    assert row.status == Status.QUEUED
    with connection.cursor() as cursor:
        cursor.execute("SELECT sealed_message FROM core_outgoingemail")
        [(stored,)] = cursor.fetchall()
    assert b"TOPSECRET123" not in bytes(stored)


def test_a_refused_email_is_retried_on_the_backoff_schedule_then_delivered(
    partner, mail_server_down, settings
):
    send_branded_email(partner=partner, to="a@example.com", subject="Low balance", body="x")
    row = OutgoingEmail.objects.get()
    assert (row.status, row.attempts) == (Status.QUEUED, 1)
    assert "Connection refused" in row.last_error
    first_retry = row.next_attempt_at

    # Not due yet: the periodic job leaves it alone.
    assert emails_deliver_due(now=first_retry - timedelta(seconds=1)) == 0
    assert OutgoingEmail.objects.get().attempts == 1

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert emails_deliver_due(now=first_retry) == 1
    row = OutgoingEmail.objects.get()
    assert (row.status, row.attempts) == (Status.SENT, 2)
    assert [m.subject for m in mail.outbox] == ["Low balance"]
    # Delivered once: a second run sends nothing more.
    assert emails_deliver_due(now=first_retry + timedelta(hours=1)) == 0
    assert len(mail.outbox) == 1


def test_an_email_the_server_keeps_refusing_fails_after_the_last_attempt(partner, mail_server_down):
    send_branded_email(partner=partner, to="a@example.com", subject="x", body="x")
    delays = []
    for _ in RETRY_DELAYS:
        row = OutgoingEmail.objects.get()
        delays.append(row.next_attempt_at)
        emails_deliver_due(now=row.next_attempt_at)
    row = OutgoingEmail.objects.get()
    assert row.status == Status.FAILED
    assert row.attempts == len(RETRY_DELAYS) + 1
    gaps = [later - earlier for earlier, later in zip(delays, delays[1:], strict=False)]
    assert gaps == list(RETRY_DELAYS[1:])
    assert emails_deliver_due(now=row.next_attempt_at + timedelta(days=1)) == 0


def test_an_email_whose_sender_died_mid_send_is_delivered_by_the_job(
    partner, mail_server_down, settings
):
    send_branded_email(partner=partner, to="a@example.com", subject="x", body="x")
    row = OutgoingEmail.objects.get()
    # A process claimed it and died before the mail server answered.
    claimed_at = row.next_attempt_at + timedelta(minutes=1)
    OutgoingEmail.objects.filter(pk=row.pk).update(status=Status.SENDING, claimed_at=claimed_at)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert emails_deliver_due(now=claimed_at + timedelta(minutes=5)) == 0  # may still be sending
    assert emails_deliver_due(now=claimed_at + timedelta(minutes=11)) == 1
    assert len(mail.outbox) == 1


def test_a_claimed_email_is_sent_by_one_process_only(partner, mail_server_down, settings):
    send_branded_email(partner=partner, to="a@example.com", subject="x", body="x")
    row = OutgoingEmail.objects.get()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    OutgoingEmail.objects.filter(pk=row.pk).update(
        status=Status.SENDING, claimed_at=row.next_attempt_at
    )
    assert email_deliver(row.id, now=row.next_attempt_at) is False
    assert mail.outbox == []


def test_delivered_emails_are_removed_after_thirty_days(partner):
    send_branded_email(partner=partner, to="a@example.com", subject="x", body="x")
    sent_at = OutgoingEmail.objects.get().sent_at
    emails_deliver_due(now=sent_at + timedelta(days=29))
    assert OutgoingEmail.objects.count() == 1
    emails_deliver_due(now=sent_at + timedelta(days=31))
    assert OutgoingEmail.objects.count() == 0


class PickyBackend(BaseEmailBackend):
    """A mail server that refuses one mailbox and takes the rest."""

    def send_messages(self, messages):
        for message in messages:
            if "refused@example.com" in message.to:
                raise ConnectionRefusedError(111, "Mailbox unavailable")
        mail.outbox.extend(messages)
        return len(messages)


def test_a_batch_is_sent_together_and_one_refusal_holds_back_only_its_email(
    partner, mail_server_down, settings
):
    queued = send_branded_emails(
        [
            (partner, "one@example.com", "Invoice 1", "x"),
            (partner, "refused@example.com", "Invoice 2", "x"),
            (partner, "three@example.com", "Invoice 3", "x"),
            (partner, "", "nobody to send to", "x"),
        ]
    )
    assert queued == 3
    assert OutgoingEmail.objects.filter(status=Status.QUEUED).count() == 3
    settings.EMAIL_BACKEND = f"{__name__}.PickyBackend"
    at = OutgoingEmail.objects.order_by("next_attempt_at").last().next_attempt_at
    assert emails_deliver_due(now=at + RETRY_DELAYS[0]) == 2
    assert sorted(m.subject for m in mail.outbox) == ["Invoice 1", "Invoice 3"]
    refused = OutgoingEmail.objects.get(recipients=["refused@example.com"])
    assert refused.status == Status.QUEUED and "Mailbox unavailable" in refused.last_error
    assert refused.claim_token == ""
    sent = OutgoingEmail.objects.filter(status=Status.SENT)
    assert sent.count() == 2 and all(row.sealed_message is None for row in sent)


def test_a_batch_delivers_only_the_emails_it_claimed(partner, mail_server_down, settings):
    send_branded_emails([(partner, f"{n}@example.com", f"Invoice {n}", "x") for n in range(3)])
    rows = list(OutgoingEmail.objects.order_by("subject"))
    at = rows[-1].next_attempt_at + RETRY_DELAYS[0]
    # Another process has just claimed the first one and is talking to the mail server.
    OutgoingEmail.objects.filter(pk=rows[0].pk).update(
        status=Status.SENDING, claimed_at=at, claim_token="theirs"
    )
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert emails_deliver([row.id for row in rows], now=at) == 2
    assert sorted(m.subject for m in mail.outbox) == ["Invoice 1", "Invoice 2"]
    assert OutgoingEmail.objects.get(pk=rows[0].pk).status == Status.SENDING
