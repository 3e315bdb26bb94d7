"""From a member's order (a model, plain options, input images) to a checked, typed request.

Why this module exists: the Discord pipeline (:mod:`bot.discord_ui.generation`) and the
terminal (:mod:`bot.cli.generate`) take the same options and images and must turn them into
the same request, refused the same way. The steps, in the order a front end calls them:

1. :func:`check_options` — every option is one this model has on the provider serving it;
2. :func:`prepare_images` — each image checked from its bytes and repaired (:mod:`bot.media`);
3. :func:`build_request` — the typed request of the catalog, with every documented limit.

Front ends put their own checks between the steps (the server's rules come before any image
is downloaded) and word the refusals for their audience.

What it must never do: touch the network or Discord, or send anything upstream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.catalog import MediaRole, ModelSpec, WanRequest
from bot.media import MediaRejected, PreparedImage, prepare_image


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


def check_options(spec: ModelSpec, fields: Mapping[str, Any]) -> None:
    """Refuse options this model does not have on the provider serving it."""
    unsupported = sorted(set(fields) - set(spec.request_type.model_fields))
    if unsupported:
        names = ", ".join(name.replace("_", " ") for name in unsupported)
        raise OrderRefused(
            f"{names} can't be used here: this server runs {spec.model_id} "
            f"on {spec.provider}, which has no such option. Leave it out."
        )


async def prepare_images(
    spec: ModelSpec, sources: Mapping[str, Sequence[InputImage]]
) -> list[PreparedInput]:
    """Check and repair every image (off the event loop); refuse what cannot be used."""
    media = spec.request_type.media_fields()
    prepared: list[PreparedInput] = []
    for name, images in sources.items():
        role = media.get(name)
        if role is None or role is MediaRole.AUDIO_URL or spec.image_bounds is None:
            raise OrderRefused(f"{spec.model_id} takes no {name.replace('_', ' ')}.")
        for position, image in enumerate(images):
            try:
                checked = await asyncio.to_thread(
                    prepare_image, image.data, spec.image_bounds, name=image.name
                )
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
) -> WanRequest:
    """The typed request; raises :class:`~bot.catalog.RequestInvalid` naming each problem."""
    values = dict(fields)
    media = spec.request_type.media_fields()
    for name in dict.fromkeys(item.field for item in images):
        uris = [item.image.data_uri for item in images if item.field == name]
        values[name] = uris if media[name] is MediaRole.IMAGES else uris[0]
    if audio_url is not None:
        values["audio_url"] = audio_url
    return spec.parse(values)
