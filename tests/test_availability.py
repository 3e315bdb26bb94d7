"""Which models a bot's settings leave on, and the words for the ones that are off (issue #13)."""

from __future__ import annotations

import pytest

from bot.availability import models_off, none_usable, usable_models
from bot.catalog import MODEL_IDS
from bot.config import ProviderName, Settings, load_settings

MULE_ONLY = ("wan2.2-t2v-plus", "wan2.6-i2v", "wan2.5-i2i-preview")


def settings(**values: object) -> Settings:
    return load_settings(_env_file=None, **values)


def test_every_key_set_leaves_every_model_on() -> None:
    both = settings(mulerouter_api_key="m", vtrix_api_key="v")
    assert models_off(both) == {}
    assert usable_models(both) == list(MODEL_IDS)


def test_only_a_vtrix_key_leaves_the_model_vtrix_serves() -> None:
    vtrix_only = settings(vtrix_api_key="v", i2v_flash_provider="vtrix")
    off = models_off(vtrix_only)

    assert usable_models(vtrix_only) == ["wan2.2-i2v-flash"]
    assert sorted(off) == sorted(MULE_ONLY)
    for model in off.values():
        assert model.provider is ProviderName.MULEROUTER
        assert model.variable == "MULEROUTER_API_KEY"
        assert model.reason == "MULEROUTER_API_KEY is not set"
        assert model.refusal == (
            "This model is off on this bot: the operator has not set MULEROUTER_API_KEY."
        )


def test_a_vtrix_key_is_needed_only_when_vtrix_serves_flash() -> None:
    assert models_off(settings(mulerouter_api_key="m")) == {}
    off = models_off(settings(mulerouter_api_key="m", i2v_flash_provider="vtrix"))
    assert list(off) == ["wan2.2-i2v-flash"]
    assert off["wan2.2-i2v-flash"].refusal == (
        "This model is off on this bot: the operator has not set VTRIX_API_KEY."
    )


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_key_is_no_key(blank: str) -> None:
    assert "wan2.2-t2v-plus" in models_off(settings(mulerouter_api_key=blank))


def test_with_no_model_left_the_line_says_what_to_set() -> None:
    assert none_usable(models_off(settings())) == (
        "MULEROUTER_API_KEY is not set: put the mulerouter key there."
    )
    assert none_usable(models_off(settings(i2v_flash_provider="vtrix"))) == (
        "none of MULEROUTER_API_KEY, VTRIX_API_KEY is set: put a provider key there."
    )
