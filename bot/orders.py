"""From a member's order (a model, plain options, input images) to a checked, typed request.

Why this module exists: the Discord pipeline (:mod:`bot.discord_ui.generation`) and the
terminal (:mod:`bot.cli.generate`) take the same options and images and must turn them into
the same request, refused the same way. The steps, in the order a front end calls them:

1. :func:`check_options` — every option is one this model has on the provider serving it, and
   free text is cleaned or refused (:mod:`bot.prompts`); use the fields it returns;
2. :func:`prepare_images` — each image checked from its bytes and repaired (:mod:`bot.media`);
3. :func:`build_request` — the typed request of the catalog, with every documented limit.

Front ends put their own checks between the steps (the server's rules come before any image
is downloaded) and word the refusals for their audience.

What it must never do: touch the network or Discord, or send anything upstream.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.catalog import MediaRole, ModelSpec, WanRequest
from bot.i18n import N_, _, message_of
from bot.media import MediaRejected, PreparedImage, prepare_image_async
from bot.prompts import TEXT_FIELDS, PromptRefused, prepare_text


class OrderRefused(Exception):
    """An option or an image can't be used. ``str()`` says what to change."""


@dataclass(frozen=True, slots=True)
class InputImage:
    """An image for a request: its bytes and a name to speak of it by."""

    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class PreparedInput:
    """One checked image, for request field ``field`` at ``position``."""

    field: str
    position: int
    source: InputImage
    image: PreparedImage

    @property
    def preview_name(self) -> str:
        """``input-<field>-<n>.<ext>``: how the status message attaches it (Retry reads it)."""
        extension = self.image.mime.split("/")[-1].replace("jpeg", "jpg")
        return f"input-{self.field}-{self.position + 1}.{extension}"


def plain_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options that were given (``None`` means "left out")."""
    return {name: value for name, value in options.items() if value is not None}


# How refusals name the free-text fields (bot.prompts words them).
TEXT_LABELS = {"prompt": N_("prompt"), "negative_prompt": N_("negative prompt")}


def check_options(spec: ModelSpec, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Refuse options this model does not have on the provider serving it; return the fields
    to use from here on: free text cleaned (:mod:`bot.prompts`), blank optional text left out.

    Refuses a blank prompt and text over the model's limit (counted as the catalog counts).
    """
    unsupported = sorted(set(fields) - set(spec.request_type.model_fields))
    if unsupported:
        names = ", ".join(name.replace("_", " ") for name in unsupported)
        raise OrderRefused(
            _(
                "{options} can't be used here: this server runs {model} on {provider}, which "
                "has no such option. Leave it out."
            ).format(options=names, model=spec.model_id, provider=spec.provider)
        )
    checked = dict(fields)
    for name, refuse_blank in TEXT_FIELDS.items():
        value = checked.get(name)
        if not isinstance(value, str):
            continue
        label = _(TEXT_LABELS.get(name, name.replace("_", " ")))
        try:
            text = prepare_text(label, value, limit=_text_limit(spec, name), required=refuse_blank)
        except PromptRefused as exc:
            raise OrderRefused(message_of(exc)) from None
        if text is None:
            del checked[name]
        else:
            checked[name] = text
    return checked


def _text_limit(spec: ModelSpec, field: str) -> int | None:
    """The ``max_length`` the catalog declares on ``field`` (looking inside ``Optional``)."""
    info = spec.request_type.model_fields[field]
    candidates: list[Any] = list(info.metadata)
    for arg in typing.get_args(info.annotation):
        candidates.extend(getattr(arg, "__metadata__", ()))
    for meta in candidates:
        for inner in getattr(meta, "metadata", [meta]):
            limit = getattr(inner, "max_length", None)
            if isinstance(limit, int):
                return limit
    return None


async def prepare_images(
    spec: ModelSpec, sources: Mapping[str, Sequence[InputImage]]
) -> list[PreparedInput]:
    """Check and repair every image (on the media decode pool, a few at once in the whole
    process); refuse what cannot be used."""
    media = spec.request_type.media_fields()
    prepared: list[PreparedInput] = []
    for name, images in sources.items():
        role = media.get(name)
        if role is None or role is MediaRole.AUDIO_URL or spec.image_bounds is None:
            raise OrderRefused(
                _("{model} takes no {option}.").format(
                    model=spec.model_id, option=name.replace("_", " ")
                )
            )
        for position, image in enumerate(images):
            try:
                checked = await prepare_image_async(image.data, spec.image_bounds, name=image.name)
            except MediaRejected as exc:
                raise OrderRefused(exc.user_message) from None
            prepared.append(PreparedInput(name, position, image, checked))
    return prepared


def build_request(
    spec: ModelSpec,
    fields: Mapping[str, Any],
    images: Sequence[PreparedInput] = (),
    *,
    audio_url: str | None = None,
) -> tuple[WanRequest, dict[str, bytes]]:
    """The typed request, and the bytes behind each ``data:`` URI it holds, keyed by the URI
    (:meth:`~bot.jobs.engine.JobEngine.submit` stores those as they are, instead of decoding
    megabytes of base64 back). Raises :class:`~bot.catalog.RequestInvalid` naming each
    problem."""
    values = dict(fields)
    media = spec.request_type.media_fields()
    raw: dict[str, bytes] = {}
    for name in dict.fromkeys(item.field for item in images):
        uris = []
        for item in images:
            if item.field == name:
                uri = item.image.data_uri
                raw[uri] = item.image.raw
                uris.append(uri)
        values[name] = uris if media[name] is MediaRole.IMAGES else uris[0]
    if audio_url is not None:
        values["audio_url"] = audio_url
    return spec.parse(values), raw
