"""core.email: brand, signature, notification toggles, and sending only after commit."""

import pytest
from django.core import mail
from django.db import transaction

from tests.factories import make_partner, make_tenant, make_user
from trunkline.accounts.models import User
from trunkline.accounts.notifications import notify_tenant_created
from trunkline.core.email import CATEGORY_TOGGLES, send_branded_email

pytestmark = pytest.mark.django_db(transaction=True)


def _branded_partner(**fields):
    partner, admin = make_partner(company_name="Acme Telecom LLC")
    for field, value in fields.items():
        setattr(partner, field, value)
    partner.save()
    return partner, admin


def test_from_is_brand_from_email_with_brand_name(settings):
    partner, _ = _branded_partner(
        brand_name="ACME Phones",
        brand_from_email="noreply@acme.example",
        brand_support_email="help@acme.example",
    )
    assert send_branded_email(partner=partner, to="a@b.example", subject="Hi", body="Hello.")
    [message] = mail.outbox
    assert message.from_email == '"ACME Phones" <noreply@acme.example>'
    assert message.reply_to == ["help@acme.example"]
    assert message.body.endswith("-- \nACME Phones\nSupport: help@acme.example\n")
    assert "Trunkline" not in message.body


def test_without_brand_from_email_the_platform_address_carries_the_brand(settings):
    settings.DEFAULT_FROM_EMAIL = "no-reply@platform.example"
    partner, _ = _branded_partner()  # no brand name: the company name stands in
    send_branded_email(partner=partner, to=["a@b.example"], subject="Hi", body="Hello.")
    [message] = mail.outbox
    assert message.from_email == '"Acme Telecom LLC" <no-reply@platform.example>'
    assert message.reply_to == []
    assert "Support:" not in message.body


def test_brand_name_with_quotes_stays_one_display_name():
    partner, _ = _branded_partner(brand_name='Bob "The Phone" Co')
    send_branded_email(partner=partner, to="a@b.example", subject="Hi", body="x")
    assert mail.outbox[0].from_email.startswith('"Bob \\"The Phone\\" Co" <')
    assert mail.outbox[0].message()["From"]  # Django can serialise it


@pytest.mark.parametrize("category,toggle", sorted(CATEGORY_TOGGLES.items()))
def test_a_disabled_category_sends_nothing(category, toggle):
    partner, _ = _branded_partner(**{toggle: False})
    sent = send_branded_email(
        partner=partner, to="a@b.example", subject="News", body="x", category=category
    )
    assert sent is False
    assert mail.outbox == []


@pytest.mark.parametrize("category", sorted(CATEGORY_TOGGLES))
def test_an_enabled_category_sends(category):
    partner, _ = _branded_partner()
    assert send_branded_email(
        partner=partner, to="a@b.example", subject="News", body="x", category=category
    )
    assert len(mail.outbox) == 1


def test_transactional_mail_is_sent_even_with_every_toggle_off():
    partner, _ = _branded_partner(**{toggle: False for toggle in CATEGORY_TOGGLES.values()})
    assert send_branded_email(partner=partner, to="a@b.example", subject="Reset", body="x")
    assert len(mail.outbox) == 1


def test_the_toggle_is_read_from_the_database_not_a_stale_instance():
    partner, _ = _branded_partner()
    stale = type(partner).objects.get(pk=partner.pk)
    partner.notify_usage_alerts = False
    partner.save()
    assert not send_branded_email(
        partner=stale, to="a@b.example", subject="x", body="x", category="usage_alert"
    )


def test_unknown_category_is_a_programming_error():
    partner, _ = _branded_partner()
    with pytest.raises(ValueError):
        send_branded_email(partner=partner, to="a@b.example", subject="x", body="x", category="x")


def test_mail_leaves_only_after_commit_and_never_on_rollback():
    partner, _ = _branded_partner()
    with transaction.atomic():
        send_branded_email(partner=partner, to="a@b.example", subject="x", body="x")
        assert mail.outbox == []
    assert len(mail.outbox) == 1

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        send_branded_email(partner=partner, to="a@b.example", subject="y", body="y")
        raise Boom
    assert len(mail.outbox) == 1


def test_new_tenant_notification_goes_to_verified_admins_and_honours_its_toggle():
    partner, admin = _branded_partner(brand_name="ACME Phones")
    second_admin = make_user(partner, role=User.Role.PARTNER_ADMIN)
    make_user(partner, role=User.Role.PARTNER_USER)  # read-only staff are not notified
    tenant = make_tenant(admin, name="Corner Bakery")
    mail.outbox = []

    assert notify_tenant_created(tenant)
    [message] = mail.outbox
    assert sorted(message.to) == sorted([admin.email, second_admin.email])
    assert "Corner Bakery" in message.subject
    assert message.from_email.startswith('"ACME Phones"')

    partner.notify_new_tenants = False
    partner.save()
    assert not notify_tenant_created(tenant)
    assert len(mail.outbox) == 1
