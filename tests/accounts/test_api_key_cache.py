"""The key record cache: one database read a minute per key, and revocation takes effect at once."""

from django.core.cache import cache

from tests.factories import actor_for_user, make_api_key
from trunkline.accounts import keys
from trunkline.accounts.api_auth import cache_key_for, resolve_key
from trunkline.accounts.models import ApiKey
from trunkline.accounts.services import api_key_revoke


def test_a_cached_key_is_resolved_without_queries(partner, django_assert_num_queries):
    token = make_api_key(partner)
    with django_assert_num_queries(2):  # the key with its partner, and its tenants
        assert resolve_key(token) is not None
    with django_assert_num_queries(0):
        assert resolve_key(token).partner.id == partner.id


def test_a_dropped_cache_entry_reloads_the_record(partner, django_assert_num_queries):
    token = make_api_key(partner)
    resolve_key(token)
    ApiKey.objects.filter(partner=partner).update(scopes=["tenants:read"])
    assert resolve_key(token).scopes != frozenset({"tenants:read"})  # still the cached record
    cache.delete(cache_key_for(keys.digest(token)))
    with django_assert_num_queries(2):
        assert resolve_key(token).scopes == frozenset({"tenants:read"})


def test_revocation_takes_effect_at_once(partner, admin, django_capture_on_commit_callbacks):
    token = make_api_key(partner)
    assert resolve_key(token) is not None
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(actor=actor_for_user(admin), api_key=ApiKey.objects.get(partner=partner))
    assert resolve_key(token) is None


def test_unknown_keys_are_cached_as_missing(partner, django_assert_num_queries):
    token = make_api_key(partner)
    unknown = token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")
    assert resolve_key(unknown) is None
    with django_assert_num_queries(0):
        assert resolve_key(unknown) is None
