"""Slash-command option helpers that read their limits from the catalog.

Why this module exists: the limits Discord enforces in the client (max lengths, ranges,
choices) must be the ones the request models enforce, so they are read from the models here
instead of being typed again in every cog.
"""

from __future__ import annotations

import typing
from typing import Any

from discord import app_commands

from bot.catalog import SEED_MAX, T2V_SIZES, WanRequest

MAX_SEED = SEED_MAX


def max_length(model: type[WanRequest], field: str) -> int:
    """The ``max_length`` declared on ``model.field`` (looking inside ``Optional[...]``)."""
    info = model.model_fields[field]
    candidates: list[Any] = list(info.metadata)
    for arg in typing.get_args(info.annotation):
        candidates.extend(getattr(arg, "__metadata__", ()))
    for meta in candidates:
        for inner in getattr(meta, "metadata", [meta]):
            if getattr(inner, "max_length", None) is not None:
                return int(inner.max_length)
    raise LookupError(f"{model.__name__}.{field} declares no max_length")


def literal_choices(
    model: type[WanRequest], field: str, label: typing.Callable[[Any], str] = str
) -> list[app_commands.Choice[Any]]:
    """The documented values of a ``Literal`` field as slash-command choices."""
    values = typing.get_args(model.model_fields[field].annotation)
    return [app_commands.Choice(name=label(value), value=value) for value in values]


def t2v_size_label(size: str) -> str:
    """``1920*1080`` -> ``1920×1080 · 16:9 · 1080P``."""
    tier, ratio = T2V_SIZES[size]
    return f"{size.replace('*', '×')} · {ratio} · {tier}"
