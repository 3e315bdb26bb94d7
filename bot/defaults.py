"""A server's own defaults: the value an option takes when a member leaves it out.

Why this module exists: the options that set the price (size or resolution, duration, the
number of images) and the ones a server wants the same for everyone (prompt extension, shot
type, the safety filter) should not depend on every member remembering them. Staff choose, per
model, the value an omitted option takes; this module says which options can be defaulted,
checks a value as the model's request would (so a default can never make a request invalid),
fills a member's order with them, and prices an order from its options alone, so the member
can be shown what a dearer choice costs before anything is downloaded or reserved.

Stored as part of the server's rules (:attr:`bot.policy.GuildPolicy.option_defaults`), as
plain JSON values keyed by model id and option name.

What it must never do: fill an option the member gave, store a value the model's request would
refuse, or let a default turn the safety filter off where the server locked it (that stays
:func:`bot.policy.check_policy`'s refusal, so a default cannot get round it either).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import TypeAdapter, ValidationError

from bot.catalog import ModelSpec
from bot.i18n import N_, _
from bot.pricing import PriceTable

# The options a server may default, in the order /wanbot show lists them. A model has those
# its request has on the provider serving it.
DEFAULTABLE: tuple[str, ...] = (
    "size",
    "resolution",
    "duration",
    "n",
    "prompt_extend",
    "shot_type",
    "safety_filter",
)

Value = str | int | bool

# The bot's own defaults where they differ from the provider's documented ones (which the
# catalog keeps, and sends explicitly): the cheaper tier, so that a member who leaves the size
# out is not charged five times as much (wan2.2-t2v-plus: $0.10 at 832*480, $0.50 at 1920*1080).
BOT_DEFAULTS: dict[str, dict[str, Value]] = {
    "wan2.2-t2v-plus": {"size": "832*480"},
    "wan2.2-i2v-flash": {"resolution": "480P"},
}


class DefaultRefused(ValueError):
    """A default staff asked for cannot be used; ``str()`` says what would be accepted."""


def defaultable(spec: ModelSpec) -> tuple[str, ...]:
    """The options of ``spec``'s request that a server may default: those with a choice (an
    option with one allowed value, like wan2.2-t2v-plus's 5-second duration, has none)."""
    fields = spec.request_type.model_fields
    return tuple(
        name
        for name in DEFAULTABLE
        if name in fields and len(allowed_values(spec, name) or (None, None)) > 1
    )


def allowed_values(spec: ModelSpec, option: str) -> tuple[Value, ...] | None:
    """Every value ``option`` takes, when it is a closed set (``None`` for a free one)."""
    info = spec.request_type.model_fields[option]
    annotation = info.annotation
    if annotation is bool:
        return (True, False)
    if get_origin(annotation) is Literal:
        return tuple(get_args(annotation))
    if annotation is int:
        low = next((m.ge for m in info.metadata if getattr(m, "ge", None) is not None), None)
        high = next((m.le for m in info.metadata if getattr(m, "le", None) is not None), None)
        if isinstance(low, int) and isinstance(high, int) and high - low < 16:
            return tuple(range(low, high + 1))
    return None


def parse_default(spec: ModelSpec, option: str, text: str) -> Value:
    """``text`` (as staff typed it) as a value of ``option``, checked as the request checks it."""
    if option not in defaultable(spec):
        choices = ", ".join(defaultable(spec))
        raise DefaultRefused(
            _("{model} has no default for {option}; it has: {choices}.").format(
                model=spec.model_id, option=option, choices=choices
            )
        )
    info = spec.request_type.model_fields[option]
    raw: Any = text.strip()
    if info.annotation is bool:
        words = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}
        if raw.lower() not in words:
            raise DefaultRefused(_("{option} is on or off.").format(option=_label(option)))
        raw = words[raw.lower()]
    elif raw.lstrip("-").isdigit():
        raw = int(raw)
    annotation: Any = info.annotation
    if info.metadata:
        annotation = Annotated[(annotation, *info.metadata)]
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    try:
        value = adapter.validate_python(raw)
    except ValidationError:
        closed = allowed_values(spec, option)
        hint = (
            _("one of {values}").format(values=", ".join(shown(choice) for choice in closed))
            if closed
            else _free_hint(spec, option)
        )
        raise DefaultRefused(
            _("{text} isn't a {option} of {model}: use {hint}.").format(
                text=repr(text.strip()), option=_label(option), model=spec.model_id, hint=hint
            )
        ) from None
    return value  # type: ignore[no-any-return]  # validated as the option's type


def built_in(spec: ModelSpec, option: str) -> Value:
    """What ``option`` is when neither the member nor the server chose: the bot's default,
    else the provider's documented one."""
    own = BOT_DEFAULTS.get(spec.model_id, {})
    if option in own:
        return own[option]
    return spec.request_type.model_fields[option].default  # type: ignore[no-any-return]


def fill(spec: ModelSpec, fields: Mapping[str, Any], server: Mapping[str, Value]) -> dict[str, Any]:
    """``fields`` with each option the member left out taken from the server's defaults, else
    the bot's (:data:`BOT_DEFAULTS`); the rest are the provider's documented defaults."""
    filled = dict(fields)
    own = BOT_DEFAULTS.get(spec.model_id, {})
    for option in defaultable(spec):
        if option not in filled and option in server:
            filled[option] = server[option]
        elif option not in filled and option in own:
            filled[option] = own[option]
    return filled


def estimate(prices: PriceTable, spec: ModelSpec, fields: Mapping[str, Any]) -> Decimal:
    """What an order of these options costs. Images and text never change a price, so the
    request is built without checking them (only the priced options are read)."""
    priced = fill(spec, {n: fields[n] for n in defaultable(spec) if n in fields}, {})
    request = spec.request_type.model_construct(**priced)
    return prices.estimate(spec.model_id, request)


def at_defaults(
    spec: ModelSpec, fields: Mapping[str, Any], server: Mapping[str, Value]
) -> dict[str, Any]:
    """``fields`` with every defaultable option at this server's default (or the bot's)."""
    return {
        **fields,
        **{option: server.get(option, built_in(spec, option)) for option in defaultable(spec)},
    }


def describe(server: Mapping[str, Value]) -> str:
    """``size 832*480, prompt extend on``: the options this server set for one model."""
    parts = [
        f"{_label(option)} {shown(server[option])}" for option in DEFAULTABLE if option in server
    ]
    return ", ".join(parts) or _("none")


def describe_all(spec: ModelSpec, server: Mapping[str, Value]) -> str:
    """Every defaultable option at this server's default or the bot's: ``size 832*480, …``."""
    return ", ".join(
        f"{_label(option)} {shown(server.get(option, built_in(spec, option)))}"
        for option in defaultable(spec)
    )


_LABELS = {
    "size": N_("size"),
    "resolution": N_("resolution"),
    "duration": N_("duration"),
    "n": N_("number of images"),
    "prompt_extend": N_("prompt extend"),
    "shot_type": N_("shot type"),
    "safety_filter": N_("safety filter"),
}


def _label(option: str) -> str:
    """An option as members read it, in the current language (bot.i18n)."""
    label = _LABELS.get(option)
    return _(label) if label is not None else option.replace("_", " ")


def shown(value: Value) -> str:
    """A value as members type and read it: ``on``/``off`` for switches."""
    if isinstance(value, bool):
        return _("on") if value else _("off")
    return str(value)


def _free_hint(spec: ModelSpec, option: str) -> str:
    if option == "size":  # wan2.5-i2i-preview's: any size within its pixel range
        return _("width*height, for example 1280*1280")
    return _("a value /{model} accepts").format(model=spec.model_id)
