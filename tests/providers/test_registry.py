"""Every provider has its own client, key and routes: nothing falls through to another's."""

from __future__ import annotations

import pytest

from bot.catalog import CATALOG
from bot.config import ConfigError, ProviderName, load_settings
from bot.providers import _CLIENTS, _ROUTES, create_path, poll_path


def test_every_provider_has_a_client_and_routes() -> None:
    assert set(_CLIENTS) == set(ProviderName)
    assert set(_ROUTES) == set(ProviderName)
    for name, client in _CLIENTS.items():
        assert client.name is name


@pytest.mark.parametrize("provider", list(ProviderName))
def test_every_provider_has_its_own_key_and_base_url(
    provider: ProviderName, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ProviderName:
        monkeypatch.delenv(f"{name.value.upper()}_API_KEY", raising=False)
    settings = load_settings(_env_file=None)
    with pytest.raises(ConfigError, match=f"{provider.value.upper()}_API_KEY is not set"):
        settings.api_key(provider)
    keyed = load_settings(_env_file=None, **{f"{provider.value}_api_key": "k-1"})
    assert keyed.api_key(provider).get_secret_value() == "k-1"
    others = [other for other in ProviderName if other is not provider]
    for other in others:
        with pytest.raises(ConfigError):
            keyed.api_key(other)
    assert keyed.base_url(provider).startswith("https://")


def test_every_catalog_entry_has_routes_on_its_own_provider() -> None:
    for spec in CATALOG:
        assert poll_path(spec, "t-1").endswith("/t-1")
        assert create_path(spec).startswith("/")
        if spec.provider is ProviderName.MULEROUTER:
            assert spec.upstream_id in create_path(spec)
