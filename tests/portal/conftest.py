import shutil

import pytest
from django.test import Client

from tests.factories import make_partner, make_tenant, make_user


@pytest.fixture
def admin_client(admin):
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def reader(partner):
    return make_user(partner)


@pytest.fixture
def reader_client(reader):
    client = Client()
    client.force_login(reader)
    return client


@pytest.fixture
def tenant(admin):
    return make_tenant(admin, name="Acme Plumbing", sip_prefix="acmeplumb", default_cnam="ACME")


@pytest.fixture
def other_partner(db):
    """Partner B with a tenant, for isolation checks."""
    partner_b, admin_b = make_partner(company_name="Other Partner")
    tenant_b = make_tenant(admin_b, name="Other Tenant")
    return partner_b, admin_b, tenant_b


HTMX = {"HTTP_HX_REQUEST": "true"}


def htmx_headers(target: str = "") -> dict:
    headers = dict(HTMX)
    if target:
        headers["HTTP_HX_TARGET"] = target
    return headers


# --- in a real browser -------------------------------------------------------------------

CHROMIUM = next(
    (path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None
)


@pytest.fixture
def page(live_server, monkeypatch):
    """Headless Chromium (the system's, driven by Playwright) on the live test server.
    Fails the test on any JavaScript error the page raised."""
    from trunkline.billing.models import PlanPrice
    from trunkline.billing.plans import seed_list_prices

    # The live server's database is flushed between tests, taking the migration's list
    # prices with it; pages that price anything need them back.
    seed_list_prices(PlanPrice)
    sync_api = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test
    # makes between browser steps are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(base_url=live_server.url, accept_downloads=True)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        context.set_default_timeout(10_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
        browser.close()
    assert errors == [], errors


def sign_in(page, user, live_server) -> None:
    """Give the browser a session for `user` without walking the sign-in form."""
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
