import pytest

from trunkline.core import ratelimit


@pytest.fixture(autouse=True)
def _fresh_state(settings, tmp_path):
    from django.core.cache import cache

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # Each API request-log row is written during its request (tests/test_api_request_log.py
    # covers the batched writes servers use).
    settings.API_REQUEST_LOG_FLUSH_SECONDS = 0
    cache.clear()
    ratelimit.reset()
    yield


@pytest.fixture(autouse=True)
def _migration_data(request):
    """What migrations load (the tiers' list prices, the licence catalog), back for a
    transactional test: each one empties every table when it ends, and pytest-django runs
    them after the others."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        return
    request.getfixturevalue("transactional_db")
    from trunkline.billing.models import PlanPrice
    from trunkline.billing.plans import seed_list_prices
    from trunkline.licensing.catalog import catalog_load
    from trunkline.licensing.models import LicenseSku

    seed_list_prices(PlanPrice)
    catalog_load(LicenseSku)


class ApiClient:
    """Django's test client speaking the API: bearer key, JSON bodies."""

    def __init__(self, client, key: str | None):
        self.client = client
        self.key = key

    def _headers(self, headers: dict | None) -> dict:
        merged = {"HTTP_AUTHORIZATION": f"Bearer {self.key}"} if self.key else {}
        for name, value in (headers or {}).items():
            merged["HTTP_" + name.upper().replace("-", "_")] = value
        return merged

    def get(self, path, params=None, headers=None):
        return self.client.get(path, params or {}, **self._headers(headers))

    def post(self, path, json=None, headers=None, raw: str | None = None):
        body = raw if raw is not None else ("" if json is None else __import__("json").dumps(json))
        return self.client.post(
            path, body, content_type="application/json", **self._headers(headers)
        )

    def patch(self, path, json=None, headers=None):
        return self.client.patch(
            path,
            __import__("json").dumps(json or {}),
            content_type="application/json",
            **self._headers(headers),
        )

    def put(self, path, json=None, headers=None):
        return self.client.put(
            path,
            __import__("json").dumps(json or {}),
            content_type="application/json",
            **self._headers(headers),
        )

    def delete(self, path, headers=None):
        return self.client.delete(path, **self._headers(headers))


@pytest.fixture
def partner_and_admin(db):
    from tests.factories import make_partner

    return make_partner()


@pytest.fixture
def partner(partner_and_admin):
    return partner_and_admin[0]


@pytest.fixture
def admin(partner_and_admin):
    return partner_and_admin[1]


@pytest.fixture
def api(client, partner):
    from tests.factories import make_api_key

    return ApiClient(client, make_api_key(partner))


@pytest.fixture
def make_api(client):
    def build(key: str | None) -> ApiClient:
        return ApiClient(client, key)

    return build
