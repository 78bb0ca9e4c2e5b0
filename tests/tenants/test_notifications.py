"""The partner's "New Tenant Signups" toggle decides whether a new tenant is emailed about."""

from django.core import mail

from tests.factories import make_tenant


def test_new_tenant_emails_the_partner_admins_after_commit(
    partner, admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        make_tenant(admin, name="Lakeside Bakery")
    assert [message.subject for message in mail.outbox] == ["New tenant: Lakeside Bakery"]
    assert mail.outbox[0].to == [admin.email]


def test_new_tenant_sends_nothing_when_the_toggle_is_off(
    partner, admin, django_capture_on_commit_callbacks
):
    partner.notify_new_tenants = False
    partner.save()
    with django_capture_on_commit_callbacks(execute=True):
        make_tenant(admin, name="Quiet Co")
    assert mail.outbox == []
