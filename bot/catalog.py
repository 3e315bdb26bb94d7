"""The model catalog: one declarative entry per provider endpoint (``docs/providers.md``).

Why this module exists: each upstream endpoint has its own fields, defaults, enums and limits, and
a request that breaks one costs a round trip at best and a bill at worst. Here every documented
field is a typed pydantic field with its documented default and limit, so a bad request is refused
inside the process with a message that names the field and the limit in a member's words.

Adding a model is adding a request class and a :class:`ModelSpec` entry (and a thin cog).

What it must never do: talk to the network, or know about Discord. Media fields hold an already
checked ``data:`` URI (see :mod:`bot.media`) or an ``http(s)`` URL.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.config import ProviderName, Settings
from bot.i18n import N_, _

SEED_MAX = 2_147_483_647
MAX_INPUT_IMAGE_BYTES = 10 * 1024 * 1024
MAX_AUDIO_BYTES = 15 * 1024 * 1024


class ResultKind(StrEnum):
    VIDEO = "video"
    IMAGES = "images"


class PriceUnit(StrEnum):
    SECOND = "second"
    IMAGE = "image"


class MediaRole(StrEnum):
    """What a media-carrying field holds; front ends use it to know what to attach where."""

    IMAGE = "image"
    IMAGES = "images"
    AUDIO_URL = "audio_url"


class RequestInvalid(ValueError):
    """A request broke a documented limit. ``str()`` is for the member; ``problems`` lists each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(" ".join(problems))


@dataclass(frozen=True, slots=True)
class PixelBounds:
    """Allowed width and height of an input image, both inclusive."""

    min_side: int
    max_side: int


VIDEO_INPUT_BOUNDS = PixelBounds(360, 2000)
I2I_INPUT_BOUNDS = PixelBounds(384, 5000)


# ---------------------------------------------------------------------------------------------
# Field types shared by several models.
# ---------------------------------------------------------------------------------------------

DATA_URI_MIMES = ("image/jpeg", "image/png", "image/bmp", "image/webp")
"""The image types a media field's ``data:`` URI may carry (what the upstream models take)."""

_DATA_URI_PREFIXES = {mime: f"data:{mime};base64," for mime in DATA_URI_MIMES}
_LONGEST_PREFIX = max(len(prefix) for prefix in _DATA_URI_PREFIXES.values())
_DELETE_BASE64 = str.maketrans(
    "", "", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)
# What is left of each prefix once its base64 characters are deleted (see is_data_uri).
_PREFIX_REST = {prefix: prefix.translate(_DELETE_BASE64) for prefix in _DATA_URI_PREFIXES.values()}
_HTTP_URL = re.compile(r"^https?://\S+$")


def data_uri(mime: str, raw: bytes) -> str:
    """``raw`` as the ``data:`` URI a media field holds; ``mime`` is one of
    :data:`DATA_URI_MIMES` (``ValueError`` otherwise)."""
    prefix = _DATA_URI_PREFIXES.get(mime)
    if prefix is None:
        raise ValueError(f"{mime} is not an image type the models take")
    return prefix + binascii.b2a_base64(raw, newline=False).decode("ascii")


def is_data_uri(value: str) -> bool:
    """Whether ``value`` is a ``data:`` URI of an accepted image type holding canonical base64
    (as :func:`data_uri` makes it): a multiple of four characters of the alphabet, padded with
    at most two ``=`` at the end.

    Images are megabytes of base64 and every request is checked at least twice (when it is
    built, and when its stored inputs are put back before the create), so this is one pass at
    C speed that allocates nothing large, never a regular expression over the payload: the
    prefix is looked up, ``str.isascii`` is free (CPython records it), and one
    ``str.translate`` deletes every base64 character, so what is left must be exactly the
    prefix's other characters and the padding.
    """
    comma = value.find(",", 0, _LONGEST_PREFIX)
    rest = _PREFIX_REST.get(value[: comma + 1])
    size = len(value) - comma - 1
    if rest is None or size == 0 or size % 4 or not value.isascii():
        return False
    padding = 2 if value.endswith("==") else 1 if value.endswith("=") else 0
    return value.translate(_DELETE_BASE64) == rest + "=" * padding


def _media_reference(value: str) -> str:
    if is_data_uri(value) if value.startswith("data:") else _HTTP_URL.match(value):
        return value
    raise ValueError(_("must be an attached image (JPEG, PNG, BMP or WEBP)"))


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError(_("must not be empty"))
    return value


ImageRef = Annotated[str, AfterValidator(_media_reference)]
Seed = Annotated[int, Field(ge=0, le=SEED_MAX, title="seed")]
NegativePrompt = Annotated[str, Field(max_length=500, title="negative prompt")]


Prompt800 = Annotated[
    str, Field(min_length=1, max_length=800, title="prompt"), AfterValidator(_not_blank)
]
Prompt2000 = Annotated[
    str, Field(min_length=1, max_length=2000, title="prompt"), AfterValidator(_not_blank)
]
VideoResolutionFlash = Literal["480P", "720P"]


def _media(role: MediaRole, title: str) -> dict[str, Any]:
    return {"title": title, "json_schema_extra": {"media": role.value}}


class WanRequest(BaseModel):
    """Base of every request model: strict about unknown fields, immutable once checked.

    ``provider_body()`` is the exact JSON sent upstream; ``price_tier()`` and
    ``billable_units()`` feed :mod:`bot.pricing`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    result_kind: ClassVar[ResultKind]
    price_unit: ClassVar[PriceUnit]

    def provider_body(self) -> dict[str, Any]:
        """The flat MuleRouter body: every field that has a value, defaults included.

        Defaults are sent explicitly so that an upstream change of default (``n`` = 4 on
        wan2.5-i2i-preview) can never change what a member pays for.
        """
        return self.model_dump(mode="json", exclude_none=True)

    def price_tier(self) -> str:
        raise NotImplementedError

    def billable_units(self) -> Decimal:
        raise NotImplementedError

    def video_seconds(self) -> int | None:
        return None

    @classmethod
    def media_fields(cls) -> dict[str, MediaRole]:
        """Field name -> media role, for the fields that carry images or audio."""
        out: dict[str, MediaRole] = {}
        for name, info in cls.model_fields.items():
            extra = info.json_schema_extra
            if isinstance(extra, dict) and "media" in extra:
                out[name] = MediaRole(str(extra["media"]))
        return out

    @classmethod
    def parse(cls, data: dict[str, Any]) -> WanRequest:
        """Validate ``data``; a failure becomes :class:`RequestInvalid` in a member's words."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise RequestInvalid(describe_errors(cls, exc)) from None


class VideoRequest(WanRequest):
    """Base of the video models: billed per second of video, ``duration`` seconds long.

    Each model narrows ``duration`` to the lengths its endpoint documents.
    """

    result_kind = ResultKind.VIDEO
    price_unit = PriceUnit.SECOND

    if TYPE_CHECKING:
        # Declared by each model (as a field, in its own place in the field order).
        duration: int

    def billable_units(self) -> Decimal:
        return Decimal(self.duration)

    def video_seconds(self) -> int:
        return self.duration


# ---------------------------------------------------------------------------------------------
# MuleRouter: wan2.2-t2v-plus
# ---------------------------------------------------------------------------------------------

T2V_SIZES: dict[str, tuple[str, str]] = {
    "832*480": ("480P", "16:9"),
    "480*832": ("480P", "9:16"),
    "624*624": ("480P", "1:1"),
    "1920*1080": ("1080P", "16:9"),
    "1080*1920": ("1080P", "9:16"),
    "1440*1440": ("1080P", "1:1"),
    "1632*1248": ("1080P", "4:3"),
    "1248*1632": ("1080P", "3:4"),
}
T2VSize = Literal[
    "832*480",
    "480*832",
    "624*624",
    "1920*1080",
    "1080*1920",
    "1440*1440",
    "1632*1248",
    "1248*1632",
]


class WanT2VPlusRequest(VideoRequest):
    """wan2.2-t2v-plus: text to a 5 s, 30 fps video at a 480P or 1080P size."""

    prompt: Prompt800
    negative_prompt: NegativePrompt | None = None
    size: T2VSize = Field("1920*1080", title="size")
    duration: Literal[5] = Field(5, title="duration")
    prompt_extend: bool = Field(True, title="prompt extend")
    seed: Seed | None = None

    def price_tier(self) -> str:
        return T2V_SIZES[self.size][0]


# ---------------------------------------------------------------------------------------------
# MuleRouter: wan2.2-i2v-flash
# ---------------------------------------------------------------------------------------------

_TEMPLATE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class WanI2VFlashRequest(VideoRequest):
    """wan2.2-i2v-flash on MuleRouter: a first-frame image to a 5 s video, 480P or 720P."""

    prompt: Prompt800
    image: ImageRef = Field(**_media(MediaRole.IMAGE, "image"))
    negative_prompt: NegativePrompt | None = None
    resolution: VideoResolutionFlash = Field("720P", title="resolution")
    duration: Literal[5] = Field(5, title="duration")
    prompt_extend: bool = Field(True, title="prompt extend")
    seed: Seed | None = None
    safety_filter: bool = Field(True, title="safety filter")
    template: str | None = Field(
        None, title="template", description="Video effect template name, e.g. `solaron`."
    )

    @field_validator("template")
    @classmethod
    def _template_name(cls, value: str | None) -> str | None:
        if value is not None and not _TEMPLATE.match(value):
            raise ValueError(_("must be a template name of letters, digits, - or _ (at most 64)"))
        return value

    def price_tier(self) -> str:
        return self.resolution


# ---------------------------------------------------------------------------------------------
# Vtrix: wan22_i2v_flash (same model as above, another provider and body shape)
# ---------------------------------------------------------------------------------------------


class VtrixWan22I2VFlashRequest(VideoRequest):
    """wan2.2-i2v-flash on Vtrix (``wan22_i2v_flash``). ``image`` is sent as ``input.img_url``.

    Vtrix truncates over-long prompts silently; refusing them here keeps the member's words intact.
    """

    vtrix_model: ClassVar[str] = "wan22_i2v_flash"

    prompt: Annotated[str, Field(max_length=800, title="prompt")] | None = None
    negative_prompt: NegativePrompt | None = None
    image: ImageRef = Field(**_media(MediaRole.IMAGE, "image"))
    resolution: VideoResolutionFlash = Field("720P", title="resolution")
    duration: Literal[5] = Field(5, title="duration")
    prompt_extend: bool = Field(True, title="prompt extend")
    watermark: bool = Field(False, title="watermark")
    seed: Seed | None = None

    def provider_body(self) -> dict[str, Any]:
        inputs = {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "img_url": self.image,
        }
        parameters = {
            "resolution": self.resolution,
            "duration": self.duration,
            "prompt_extend": self.prompt_extend,
            "watermark": self.watermark,
            "seed": self.seed,
        }
        return {
            "model": self.vtrix_model,
            "input": {k: v for k, v in inputs.items() if v is not None},
            "parameters": {k: v for k, v in parameters.items() if v is not None},
        }

    @classmethod
    def from_provider_body(cls, body: dict[str, Any]) -> dict[str, Any]:
        """Flatten a Vtrix body back to this model's fields (the simulator's reading)."""
        if body.get("model") != cls.vtrix_model:
            raise RequestInvalid([f"model must be {cls.vtrix_model}."])
        inputs = body.get("input")
        parameters = body.get("parameters", {})
        if not isinstance(inputs, dict) or not isinstance(parameters, dict):
            raise RequestInvalid(["input and parameters must be objects."])
        flat = {k: v for k, v in inputs.items() if k != "img_url"}
        if "img_url" in inputs:
            flat["image"] = inputs["img_url"]
        flat.update(parameters)
        return flat

    def price_tier(self) -> str:
        return self.resolution


# ---------------------------------------------------------------------------------------------
# MuleRouter: wan2.6-i2v
# ---------------------------------------------------------------------------------------------

_AUDIO_URL = re.compile(r"^https?://\S+$")


class WanI2V26Request(VideoRequest):
    """wan2.6-i2v: first frame (and optional last frame) to a 5/10/15 s video, with sound.

    The endpoint reference names the multi-shot switch ``shot_type``; one example writes
    ``multi_shots``. We send ``shot_type``, the documented field.
    """

    prompt: Prompt2000
    image: ImageRef = Field(**_media(MediaRole.IMAGE, "image"))
    last_frame: ImageRef | None = Field(None, **_media(MediaRole.IMAGE, "last frame"))
    negative_prompt: NegativePrompt | None = None
    resolution: Literal["720P", "1080P"] = Field("720P", title="resolution")
    duration: Literal[5, 10, 15] = Field(5, title="duration")
    prompt_extend: bool = Field(True, title="prompt extend")
    shot_type: Literal["single", "multi"] = Field("single", title="shot type")
    audio: bool = Field(True, title="audio")
    audio_url: str | None = Field(None, **_media(MediaRole.AUDIO_URL, "audio file"))
    seed: Seed | None = None
    safety_filter: bool = Field(True, title="safety filter")

    @field_validator("audio_url")
    @classmethod
    def _audio_is_url(cls, value: str | None) -> str | None:
        if value is not None and not _AUDIO_URL.match(value):
            raise ValueError(_("must be a link to a WAV or MP3 file"))
        return value

    @model_validator(mode="after")
    def _consistent(self) -> WanI2V26Request:
        problems = []
        if self.shot_type == "multi" and not self.prompt_extend:
            problems.append(
                _(
                    "shot type 'multi' only works with prompt extend on: turn prompt extend on, "
                    "or choose 'single'."
                )
            )
        if self.audio_url is not None and not self.audio:
            problems.append(
                _("an audio file was given but audio is off: remove the file, or turn audio on.")
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def price_tier(self) -> str:
        return self.resolution


# ---------------------------------------------------------------------------------------------
# MuleRouter: wan2.5-i2i-preview
# ---------------------------------------------------------------------------------------------

I2I_MIN_PIXELS = 768 * 768
I2I_MAX_PIXELS = 1440 * 1440
I2I_COMMON_SIZES: tuple[str, ...] = (
    "1280*1280",
    "1024*1024",
    "1280*960",
    "960*1280",
    "1280*720",
    "720*1280",
    "1440*1080",
    "1080*1440",
    "1536*864",
    "864*1536",
    "1440*1440",
    "768*768",
)
_SIZE = re.compile(r"^\s*(\d{2,5})\s*[*xX×]\s*(\d{2,5})\s*$")


def parse_i2i_size(value: str) -> str:
    """Check a ``W*H`` size against wan2.5-i2i-preview's rules; return it normalised."""
    match = _SIZE.match(value)
    if not match:
        raise ValueError(_("must be written as width*height, for example 1280*1280"))
    width, height = int(match.group(1)), int(match.group(2))
    pixels = width * height
    if not I2I_MIN_PIXELS <= pixels <= I2I_MAX_PIXELS:
        raise ValueError(
            _(
                "{width}*{height} has {pixels} pixels; it must have between 768*768 ({low}) and "
                "1440*1440 ({high})"
            ).format(
                width=width,
                height=height,
                pixels=f"{pixels:,}",
                low=f"{I2I_MIN_PIXELS:,}",
                high=f"{I2I_MAX_PIXELS:,}",
            )
        )
    if max(width, height) > 4 * min(width, height):
        raise ValueError(
            _("{width}*{height} is too narrow; the aspect ratio must be within 1:4 and 4:1").format(
                width=width, height=height
            )
        )
    return f"{width}*{height}"


class WanI2I25Request(WanRequest):
    """wan2.5-i2i-preview: edit 1 to 3 reference images into ``n`` new images.

    Upstream ``n`` defaults to 4 and multiplies the bill; ours defaults to 1 and is always sent.
    """

    result_kind = ResultKind.IMAGES
    price_unit = PriceUnit.IMAGE

    prompt: Prompt2000
    images: list[ImageRef] = Field(min_length=1, max_length=3, **_media(MediaRole.IMAGES, "images"))
    negative_prompt: NegativePrompt | None = None
    size: Annotated[str, AfterValidator(parse_i2i_size)] = Field("1280*1280", title="size")
    n: int = Field(1, ge=1, le=4, title=N_("n (number of images)"))
    seed: Seed | None = None
    prompt_extend: bool = Field(False, title="prompt extend")
    safety_filter: bool = Field(True, title="safety filter")

    def price_tier(self) -> str:
        return "image"

    def billable_units(self) -> Decimal:
        return Decimal(self.n)


# ---------------------------------------------------------------------------------------------
# The catalog
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One provider endpoint: where it lives, what it takes, what it returns, how it is priced."""

    model_id: str
    provider: ProviderName
    upstream_id: str
    title: str
    summary: str
    request_type: type[WanRequest]
    image_bounds: PixelBounds | None
    # USD per unit (second of video, or image) by price tier: the reference prices that seed
    # bot.pricing (docs/providers.md#prices); an operator's price table overrides them.
    reference_prices: Mapping[str, Decimal]
    # Typical seconds from submission to result (per 5 s of video for video models): the
    # planner's prior before there is history of similar jobs.
    expected_seconds: float
    max_images: int = 0

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.model_id}"

    @property
    def result_kind(self) -> ResultKind:
        return self.request_type.result_kind

    @property
    def price_unit(self) -> PriceUnit:
        return self.request_type.price_unit

    def parse(self, data: dict[str, Any]) -> WanRequest:
        return self.request_type.parse(data)


# One model served by two providers at one reference price.
_FLASH_PRICES = {"480P": Decimal("0.014"), "720P": Decimal("0.028")}

CATALOG: tuple[ModelSpec, ...] = (
    ModelSpec(
        model_id="wan2.2-t2v-plus",
        provider=ProviderName.MULEROUTER,
        upstream_id="wan2.2-t2v-plus",
        title="Wan 2.2 text to video (Plus)",
        summary="Text to a 5 s video, 480P or 1080P sizes.",
        request_type=WanT2VPlusRequest,
        reference_prices={"480P": Decimal("0.02"), "1080P": Decimal("0.10")},
        expected_seconds=120.0,
        image_bounds=None,
    ),
    ModelSpec(
        model_id="wan2.6-i2v",
        provider=ProviderName.MULEROUTER,
        upstream_id="wan2.6-i2v",
        title="Wan 2.6 image to video",
        summary="Image (and optional last frame, audio) to a 5/10/15 s video, 720P or 1080P.",
        request_type=WanI2V26Request,
        reference_prices={"720P": Decimal("0.10"), "1080P": Decimal("0.15")},
        expected_seconds=150.0,
        image_bounds=VIDEO_INPUT_BOUNDS,
        max_images=1,
    ),
    ModelSpec(
        model_id="wan2.2-i2v-flash",
        provider=ProviderName.MULEROUTER,
        upstream_id="wan2.2-i2v-flash",
        title="Wan 2.2 image to video (Flash)",
        summary="Fast image to a 5 s video, 480P or 720P.",
        request_type=WanI2VFlashRequest,
        reference_prices=_FLASH_PRICES,
        expected_seconds=60.0,
        image_bounds=VIDEO_INPUT_BOUNDS,
        max_images=1,
    ),
    ModelSpec(
        model_id="wan2.2-i2v-flash",
        provider=ProviderName.VTRIX,
        upstream_id="wan22_i2v_flash",
        title="Wan 2.2 image to video (Flash, via Vtrix)",
        summary="Fast image to a 5 s video, 480P or 720P; real progress and billed cost.",
        request_type=VtrixWan22I2VFlashRequest,
        reference_prices=_FLASH_PRICES,
        expected_seconds=60.0,
        image_bounds=VIDEO_INPUT_BOUNDS,
        max_images=1,
    ),
    ModelSpec(
        model_id="wan2.5-i2i-preview",
        provider=ProviderName.MULEROUTER,
        upstream_id="wan2.5-i2i-preview",
        title="Wan 2.5 image edit (preview)",
        summary="Edit 1-3 images into 1-4 new images.",
        request_type=WanI2I25Request,
        reference_prices={"image": Decimal("0.03")},
        expected_seconds=90.0,
        image_bounds=I2I_INPUT_BOUNDS,
        max_images=3,
    ),
)

MODEL_IDS: tuple[str, ...] = tuple(dict.fromkeys(spec.model_id for spec in CATALOG))


class UnknownModel(LookupError):
    pass


def spec_for(model_id: str, provider: ProviderName) -> ModelSpec:
    for spec in CATALOG:
        if spec.model_id == model_id and spec.provider is provider:
            return spec
    raise UnknownModel(f"{model_id} is not served by {provider}")


def resolve(model_id: str, settings: Settings) -> ModelSpec:
    """The endpoint that serves ``model_id`` under these settings."""
    if model_id not in MODEL_IDS:
        raise UnknownModel(f"unknown model {model_id!r}; choose one of: {', '.join(MODEL_IDS)}")
    if model_id == "wan2.2-i2v-flash":
        return spec_for(model_id, settings.i2v_flash_provider)
    return spec_for(model_id, ProviderName.MULEROUTER)


# ---------------------------------------------------------------------------------------------
# Validation errors in a member's words
# ---------------------------------------------------------------------------------------------


def _label(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "request"
    field = str(loc[0])
    info = model.model_fields.get(field)
    # In the member's language where the catalog has the word (bot.i18n), else as named.
    label = _((info.title if info and info.title else None) or field.replace("_", " "))
    if len(loc) > 1 and isinstance(loc[1], int):
        label = f"{label} #{loc[1] + 1}"
    return label


def _bounds(model: type[BaseModel], field: str) -> tuple[Any, Any]:
    info = model.model_fields.get(field)
    lo = hi = None
    for meta in info.metadata if info else []:
        lo = getattr(meta, "ge", lo) if getattr(meta, "ge", None) is not None else lo
        hi = getattr(meta, "le", hi) if getattr(meta, "le", None) is not None else hi
    if info is not None and (lo is None or hi is None):
        # Optional[Annotated[int, Field(...)]] keeps its bounds inside the union's arguments.
        for arg in getattr(info.annotation, "__args__", ()):
            for meta in getattr(arg, "__metadata__", ()):
                for inner in getattr(meta, "metadata", [meta]):
                    lo = getattr(inner, "ge", None) if lo is None else lo
                    hi = getattr(inner, "le", None) if hi is None else hi
    return lo, hi


def describe_errors(model: type[BaseModel], exc: ValidationError) -> list[str]:
    """Turn pydantic's errors into sentences that name the field and the limit.

    The offending value is never echoed whole: it may be a long base64 image or a prompt the
    member would rather not see repeated in public.
    """
    problems: list[str] = []
    for err in exc.errors(include_input=True, include_url=False):
        loc = tuple(err["loc"])
        label = _label(model, loc)
        kind = err["type"]
        ctx = err.get("ctx", {})
        value = err.get("input")
        if kind == "string_too_long":
            problems.append(
                _("The {field} is too long: {length} characters; the limit is {limit}.").format(
                    field=label, length=len(value), limit=ctx["max_length"]
                )
            )
        elif kind == "too_long":
            problems.append(
                _("Too many {field}: {count} given; at most {limit}.").format(
                    field=label, count=len(value), limit=ctx["max_length"]
                )
            )
        elif kind == "too_short":
            problems.append(
                _("At least {count} of the {field} is needed.").format(
                    count=ctx["min_length"], field=label
                )
            )
        elif kind in ("missing", "string_too_short"):
            problems.append(_("The {field} is required.").format(field=label))
        elif kind == "literal_error":
            problems.append(
                _("The {field} must be one of: {values}.").format(
                    field=label, values=ctx["expected"].replace(chr(39), "")
                )
            )
        elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            lo, hi = _bounds(model, str(loc[0]))
            if lo is not None and hi is not None:
                problems.append(
                    _("The {field} must be between {low} and {high}.").format(
                        field=label, low=lo, high=hi
                    )
                )
            else:
                problems.append(f"The {label} {err['msg'].lower()}.")
        elif kind in ("int_parsing", "int_type", "int_from_float"):
            problems.append(_("The {field} must be a whole number.").format(field=label))
        elif kind in ("bool_parsing", "bool_type"):
            problems.append(_("The {field} must be true or false.").format(field=label))
        elif kind == "extra_forbidden":
            problems.append(_("{option} is not an option of this model.").format(option=loc[-1]))
        elif kind == "value_error":
            message = err["msg"].removeprefix("Value error, ")
            if loc:
                # The validators word their part in the member's language (the same task).
                problems.append(
                    _("The {field} {problem}.")
                    .format(field=label, problem=message)
                    .replace("..", ".")
                )
            else:
                problems.extend(line[0].upper() + line[1:] for line in message.split("\n"))
        else:
            problems.append(f"The {label} is not valid: {err['msg']}.")
    return problems
