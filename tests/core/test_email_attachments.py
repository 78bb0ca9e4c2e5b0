"""Attachments queued as references and drawn at delivery (core.email)."""

import json

import pytest
from django.core import mail
from django.db import transaction

from tests.factories import make_partner
from trunkline.core import crypto
from trunkline.core.email import (
    RETRY_DELAYS,
    BrandedEmail,
    _context,
    attachment_renderers_register,
    send_branded_email,
    send_branded_emails,
)
from trunkline.core.models import OutgoingEmail

pytestmark = pytest.mark.django_db(transaction=True)

Status = OutgoingEmail.Status
NOTES = {"note_1": b"first note", "note_2": b"second note"}
calls: list[str] = []


def render_note(object_id: str):
    calls.append(object_id)
    if object_id == "broken":
        raise RuntimeError("the renderer fell over")
    content = NOTES.get(object_id)
    if content is None:
        return None
    return f"{object_id}.txt", content, "text/plain"


@pytest.fixture(autouse=True)
def note_renderer():
    attachment_renderers_register("test_note", render_note)
    calls.clear()
    yield


@pytest.fixture
def partner():
    partner, _ = make_partner(company_name="Ozark Voice")
    return partner


def sealed(row: OutgoingEmail) -> dict:
    return json.loads(crypto.open_bytes(bytes(row.sealed_message), context=_context(row.id)))


def test_an_attachment_is_drawn_when_the_email_is_delivered(partner):
    with transaction.atomic():
        send_branded_email(
            partner=partner,
            to="a@example.com",
            subject="Your note",
            body="Attached.",
            attachments=[("test_note", "note_1")],
        )
        row = OutgoingEmail.objects.get()
        assert sealed(row)["attachments"] == [["test_note", "note_1"]]
        assert calls == []  # queuing draws nothing
    [message] = mail.outbox
    assert message.attachments == [("note_1.txt", "first note", "text/plain")]
    assert calls == ["note_1"]


def test_an_object_gone_by_delivery_is_left_out_and_the_email_still_goes(partner, caplog):
    send_branded_email(
        partner=partner,
        to="a@example.com",
        subject="Notes",
        body="x",
        attachments=[("test_note", "deleted"), ("test_note", "note_2")],
    )
    [message] = mail.outbox
    assert [name for name, _, _ in message.attachments] == ["note_2.txt"]
    assert OutgoingEmail.objects.get().status == Status.SENT
    assert "without its test_note attachment" in caplog.text


def test_a_failing_renderer_is_a_failed_delivery_retried_later(partner):
    send_branded_email(
        partner=partner,
        to="a@example.com",
        subject="Notes",
        body="x",
        attachments=[("test_note", "broken")],
    )
    assert mail.outbox == []
    row = OutgoingEmail.objects.get()
    assert row.status == Status.QUEUED and row.attempts == 1
    assert "RuntimeError" in row.last_error
    assert row.next_attempt_at > row.created_at + RETRY_DELAYS[0] / 2


def test_one_failing_renderer_holds_back_only_its_own_email(partner):
    queued = send_branded_emails(
        [
            BrandedEmail(partner, "a@example.com", "A", "x", [("test_note", "note_1")]),
            BrandedEmail(partner, "b@example.com", "B", "x", [("test_note", "broken")]),
            (partner, "c@example.com", "C", "no attachment"),
        ]
    )
    assert queued == 3
    assert sorted(message.to[0] for message in mail.outbox) == ["a@example.com", "c@example.com"]
    statuses = dict(OutgoingEmail.objects.values_list("subject", "status"))
    assert statuses == {"A": Status.SENT, "B": Status.QUEUED, "C": Status.SENT}


def test_an_unknown_kind_is_refused_when_queued(partner):
    with pytest.raises(ValueError, match="no renderer"):
        send_branded_email(
            partner=partner, to="a@example.com", subject="x", body="x", attachments=[("nope", "1")]
        )
    assert OutgoingEmail.objects.count() == 0
