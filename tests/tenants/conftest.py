import pytest

from tests.factories import make_partner, make_tenant


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Argon2 is deliberately slow; these tests create partners, they do not test passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tenant(admin):
    return make_tenant(admin, name="Acme Plumbing", sip_prefix="acme", status="ACTIVE")


@pytest.fixture
def other_partner(db):
    """Partner B with its admin: what partner A's keys must never reach."""
    return make_partner(company_name="Bravo Telecom")
