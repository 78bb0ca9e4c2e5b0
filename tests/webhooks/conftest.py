import pytest

from tests.factories import make_partner
from tests.webhooks.helpers import Receiver


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Argon2 is deliberately slow; these tests create partners, they do not test passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def allow_private(settings):
    """TRUNKLINE_WEBHOOK_ALLOW_PRIVATE=1: endpoints may target this machine over http."""
    settings.TRUNKLINE_WEBHOOK_ALLOW_PRIVATE = True
    return settings


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def other_partner(db):
    return make_partner(company_name="Bravo Telecom")
