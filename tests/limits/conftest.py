from tests.billing.conftest import carrier  # noqa: F401 - the rates
