"""Which models this bot can serve under its settings, and why the others are off.

Why this module exists: a model is usable only when the provider that serves it (see
:func:`bot.catalog.resolve`) has its key set. An operator with only a Vtrix key must still be
able to run the bot for the model Vtrix serves, so a missing key switches off that provider's
models instead of stopping start-up; start-up, the generation path, ``/wanbot show`` and
``python -m bot doctor`` all ask this one function, so they can never disagree about what is
off or say it differently.

What it must never do: talk to the network (a key that is set counts as usable; whether the
provider accepts it is the doctor's question), read a secret's value beyond "is it blank", or
know about Discord.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.catalog import MODEL_IDS, resolve
from bot.config import ConfigError, ProviderName, Settings
from bot.i18n import _


@dataclass(frozen=True, slots=True)
class ModelOff:
    """One model switched off on this bot: the provider serving it has no key."""

    model_id: str
    provider: ProviderName
    variable: str  # the environment variable that would turn it on

    @property
    def reason(self) -> str:
        """Why, in the operator's words: ``VTRIX_API_KEY is not set``."""
        return _("{variable} is not set").format(variable=self.variable)

    @property
    def refusal(self) -> str:
        """What a member running it is told (privately)."""
        return _("This model is off on this bot: the operator has not set {variable}.").format(
            variable=self.variable
        )


def key_variable(provider: ProviderName) -> str:
    """The environment variable holding ``provider``'s key."""
    return f"{provider.value.upper()}_API_KEY"


def models_off(settings: Settings) -> dict[str, ModelOff]:
    """Model id -> why it is off, for every model whose provider has no key (catalog order)."""
    off: dict[str, ModelOff] = {}
    for model_id in MODEL_IDS:
        provider = resolve(model_id, settings).provider
        try:
            settings.api_key(provider)
        except ConfigError:
            off[model_id] = ModelOff(model_id, provider, key_variable(provider))
    return off


def none_usable(off: dict[str, ModelOff]) -> str:
    """What to set when every model is off: ``MULEROUTER_API_KEY is not set: put ...``."""
    missing = {model.variable: model.provider for model in off.values()}
    if len(missing) == 1:
        [(variable, provider)] = missing.items()
        return f"{variable} is not set: put the {provider} key there."
    return f"none of {', '.join(sorted(missing))} is set: put a provider key there."


def usable_models(settings: Settings) -> list[str]:
    """The models this bot can serve (catalog order)."""
    off = models_off(settings)
    return [model_id for model_id in MODEL_IDS if model_id not in off]
