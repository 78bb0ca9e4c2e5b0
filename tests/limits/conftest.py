from tests.billing.conftest import carrier, list_prices  # noqa: F401 - rates and plan prices
