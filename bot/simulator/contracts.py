"""What each provider endpoint accepts: the simulator's own reading of the provider documents.

Why this module exists: if the simulator judged requests with the bot's catalog, a wrong limit in
the catalog would pass on both sides of every test. Here each endpoint is one declarative entry
written from the provider documents (summarised in ``docs/providers.md#mulerouter`` and
``docs/providers.md#vtrix``): its fields, which are required, their JSON types, enums, ranges,
string and list lengths, defaults, output-size rules and the relations between fields, plus how a
refusal is answered. :func:`validate` applies an entry to a request body and returns the
simulator's own plain record of it (a dict: defaults filled in, Vtrix's truncation applied).
``tests/simulator/test_contracts_agree.py`` holds the catalog against this table, limit by limit.

Where the documents are silent the simulator is strict, on purpose and only here: a field the
documents do not name is refused (a misspelt field would otherwise be dropped unnoticed), a
required string must not be empty, and JSON types are not coerced (``"5"`` is not ``5``).

What it must never do: import :mod:`bot.catalog` or anything built from it (the point is a second,
independent reading), or refuse at create time what upstream accepts and fails later: input image
dimensions are judged after acceptance (:mod:`bot.simulator.inputs`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from bot.config import ProviderName

SEED_MAX: Final = 2_147_483_647
MEGABYTE: Final = 1024 * 1024

Value = str | int | bool
Record = dict[str, Any]


class Kind(StrEnum):
    """A field's JSON type, with the form checks that go with it."""

    TEXT = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    MEDIA = "image"  # an http(s) URL, or a data:image/<format>;base64 URI of a documented format
    MEDIA_LIST = "image list"  # a JSON array of MEDIA strings
    URL = "url"  # an http(s) URL (wan2.6-i2v's audio_url)
    SIZE = "size"  # "W*H", judged by a SizeRule


class Result(StrEnum):
    """What a finished task carries: a video, or images (``docs/providers.md#result-shapes``)."""

    VIDEO = "video"
    IMAGES = "images"


class Effect(StrEnum):
    """What upstream does when a :class:`CrossRule`'s expectation is not met."""

    REFUSED = "refused"  # the request is answered 400
    IGNORED = "ignored"  # accepted; the trigger field has no effect
    OVERRIDES = "overrides"  # accepted; the trigger field wins over the other one


@dataclass(frozen=True, slots=True)
class SizeRule:
    """An output size ``W*H``: total pixels within ``[min_pixels, max_pixels]`` and the long side
    at most ``max_ratio`` times the short side (so ``1:max_ratio`` to ``max_ratio:1``); every
    bound inclusive."""

    min_pixels: int
    max_pixels: int
    max_ratio: int


@dataclass(frozen=True, slots=True)
class MediaRule:
    """What a media file must be.

    ``formats`` are the documented file formats (for images also the ``data:image/<format>``
    MIME subtypes accepted at create; JPG is ``image/jpeg``). Sides, length and size are judged
    after the task is accepted, as upstream does, and only for ``data:`` URIs: the simulator never
    fetches a URL. ``max_bytes`` and the audio length are documented facts the simulator does not
    enforce (it reads image headers only).
    """

    formats: tuple[str, ...]
    max_bytes: int
    min_side: int | None = None
    max_side: int | None = None
    min_seconds: float | None = None
    max_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class FieldRule:
    """One documented request field.

    ``required`` strings must not be empty and required lists must hold ``min_items``.
    ``nullable`` fields are documented as ``… | null``: null means "use the default".
    ``truncates``: a string over ``max_length`` is cut to it, not refused (Vtrix).
    ``section`` is the object the field sits in (Vtrix's ``input``/``parameters``); None for a
    flat body. ``aliases`` are other spellings the documents use for the same field (when both
    are given, the field's own name wins).
    ``example`` is a value from the documents' examples, for fields with no enum or default.
    """

    name: str
    kind: Kind
    required: bool = False
    default: Value | None = None
    choices: tuple[Value, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    truncates: bool = False
    min_items: int | None = None
    max_items: int | None = None
    nullable: bool = False
    size: SizeRule | None = None
    media: MediaRule | None = None
    section: str | None = None
    aliases: tuple[str, ...] = ()
    example: Value | None = None
    note: str = ""

    @property
    def path(self) -> str:
        """Where the field sits in the body, as messages name it (``parameters.duration``)."""
        return self.name if self.section is None else f"{self.section}.{self.name}"


@dataclass(frozen=True, slots=True)
class CrossRule:
    """When ``field`` is ``value`` (or is given at all, when ``value`` is None), ``other`` is
    expected to be ``other_value``; when it is not, upstream does ``effect``."""

    field: str
    value: Value | None
    other: str
    other_value: Value
    effect: Effect
    note: str


@dataclass(frozen=True, slots=True)
class Section:
    """A JSON object inside the body that holds fields (Vtrix's ``input`` and ``parameters``)."""

    name: str
    required: bool


@dataclass(frozen=True, slots=True)
class RefusalShape:
    """How a provider answers a request it refuses (``docs/providers.md#refused-requests-400``).

    MuleRouter has been seen answering either ``{"detail": text}`` or ``{"task_info": {"status":
    "failed", "error": {code, title, detail}}}``; Vtrix's shape is ``{"error": {code, message}}``.
    """

    status: int
    code: int | str
    title: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Endpoint:
    """One provider endpoint: where it lives, what it accepts, what it returns, how it bills.

    ``key`` is MuleRouter's model path segment or Vtrix's ``model`` value; ``model_id`` the
    model's name across providers (the price table's key). The price tier is the value of
    ``tier_field`` (mapped through ``tiers`` when the field's value is not itself a tier), or
    ``fixed_tier``; the billed units are the value of ``units_field`` (seconds of video, or
    images). Identity is the object: there is one instance per endpoint.
    """

    provider: ProviderName
    key: str
    model_id: str
    result: Result
    fields: tuple[FieldRule, ...]
    units_field: str
    doc: str
    sections: tuple[Section, ...] = ()
    rules: tuple[CrossRule, ...] = ()
    tier_field: str | None = None
    tiers: Mapping[str, str] = field(default_factory=dict)
    fixed_tier: str | None = None
    image_size_field: str | None = None

    def field_named(self, name: str) -> FieldRule:
        for rule in self.fields:
            if rule.name == name:
                return rule
        raise KeyError(f"{self.key} has no field {name!r}")

    def media_fields(self) -> tuple[FieldRule, ...]:
        return tuple(rule for rule in self.fields if rule.media is not None)

    def price_tier(self, record: Mapping[str, Any]) -> str:
        if self.tier_field is None:
            if self.fixed_tier is None:
                raise ValueError(f"{self.key} names neither a tier field nor a fixed tier")
            return self.fixed_tier
        value = str(record[self.tier_field])
        return self.tiers.get(value, value)

    def billable_units(self, record: Mapping[str, Any]) -> Decimal:
        return Decimal(int(record[self.units_field]))

    def video_seconds(self, record: Mapping[str, Any]) -> int | None:
        return int(record[self.units_field]) if self.result is Result.VIDEO else None

    def result_count(self, record: Mapping[str, Any]) -> int:
        return int(record[self.units_field]) if self.result is Result.IMAGES else 1

    def image_size(self, record: Mapping[str, Any]) -> tuple[int, int] | None:
        """The output image size ``(width, height)``, for image endpoints."""
        if self.image_size_field is None:
            return None
        parsed = parse_size(str(record[self.image_size_field]))
        if parsed is None:
            raise ValueError(f"{self.key}: {record[self.image_size_field]!r} is not W*H")
        return parsed


# ---------------------------------------------------------------------------------------------
# The table. Each entry follows its document; a note says where a fact comes from when the
# endpoint reference itself is silent.
# ---------------------------------------------------------------------------------------------

IMAGE_FORMATS: Final = ("jpeg", "png", "bmp", "webp")
VIDEO_INPUT = MediaRule(IMAGE_FORMATS, max_bytes=10 * MEGABYTE, min_side=360, max_side=2000)
I2I_INPUT = MediaRule(IMAGE_FORMATS, max_bytes=10 * MEGABYTE, min_side=384, max_side=5000)
AUDIO_INPUT = MediaRule(("wav", "mp3"), max_bytes=15 * MEGABYTE, min_seconds=3, max_seconds=30)
I2I_SIZE = SizeRule(min_pixels=768 * 768, max_pixels=1440 * 1440, max_ratio=4)

# wan2.2-t2v-plus sizes and the resolution tier each belongs to (the price tier).
T2V_SIZE_TIERS: Final[Mapping[str, str]] = {
    "832*480": "480P",
    "480*832": "480P",
    "624*624": "480P",
    "1920*1080": "1080P",
    "1080*1920": "1080P",
    "1440*1440": "1080P",
    "1632*1248": "1080P",
    "1248*1632": "1080P",
}


def _prompt(limit: int) -> FieldRule:
    return FieldRule("prompt", Kind.TEXT, required=True, max_length=limit)


_NEGATIVE_PROMPT = FieldRule("negative_prompt", Kind.TEXT, max_length=500)
_SEED = FieldRule("seed", Kind.INTEGER, minimum=0, maximum=SEED_MAX)
_SAFETY_FILTER = FieldRule("safety_filter", Kind.BOOLEAN, default=True, nullable=True)
_FIXED_5S = "fixed at 5 s; the reference gives no default, 5 is the only value"

MULEROUTER_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        provider=ProviderName.MULEROUTER,
        key="wan2.2-t2v-plus",
        model_id="wan2.2-t2v-plus",
        result=Result.VIDEO,
        doc="docs/providers.md#wan22-t2v-plus",
        fields=(
            _prompt(800),
            _NEGATIVE_PROMPT,
            FieldRule("size", Kind.TEXT, default="1920*1080", choices=tuple(T2V_SIZE_TIERS)),
            FieldRule("duration", Kind.INTEGER, default=5, choices=(5,), note=_FIXED_5S),
            FieldRule("prompt_extend", Kind.BOOLEAN, default=True),
            _SEED,
        ),
        tier_field="size",
        tiers=T2V_SIZE_TIERS,
        units_field="duration",
    ),
    Endpoint(
        provider=ProviderName.MULEROUTER,
        key="wan2.2-i2v-flash",
        model_id="wan2.2-i2v-flash",
        result=Result.VIDEO,
        doc="docs/providers.md#wan22-i2v-flash",
        fields=(
            _prompt(800),
            FieldRule("image", Kind.MEDIA, required=True, media=VIDEO_INPUT),
            _NEGATIVE_PROMPT,
            FieldRule("resolution", Kind.TEXT, default="720P", choices=("480P", "720P")),
            FieldRule("duration", Kind.INTEGER, default=5, choices=(5,), note=_FIXED_5S),
            FieldRule("prompt_extend", Kind.BOOLEAN, default=True),
            _SEED,
            _SAFETY_FILTER,
            FieldRule(
                "template",
                Kind.TEXT,
                example="solaron",
                note="appears only in an example; no limit is documented",
            ),
        ),
        tier_field="resolution",
        units_field="duration",
    ),
    Endpoint(
        provider=ProviderName.MULEROUTER,
        key="wan2.6-i2v",
        model_id="wan2.6-i2v",
        result=Result.VIDEO,
        doc="docs/providers.md#wan26-i2v",
        fields=(
            _prompt(2000),
            FieldRule("image", Kind.MEDIA, required=True, media=VIDEO_INPUT),
            FieldRule(
                "last_frame",
                Kind.MEDIA,
                media=VIDEO_INPUT,
                note="appears only in an example; taken to follow the first frame's rules",
            ),
            _NEGATIVE_PROMPT,
            FieldRule("resolution", Kind.TEXT, default="720P", choices=("720P", "1080P")),
            FieldRule(
                "duration",
                Kind.INTEGER,
                default=5,
                choices=(5, 10, 15),
                note="the reference gives no default; its request example sends 5",
            ),
            FieldRule("prompt_extend", Kind.BOOLEAN, default=True),
            FieldRule(
                "shot_type",
                Kind.TEXT,
                default="single",
                choices=("single", "multi"),
                nullable=True,
                aliases=("multi_shots",),
                note="the reference says shot_type; an example on the same page says multi_shots",
            ),
            FieldRule("audio", Kind.BOOLEAN, default=True, nullable=True),
            FieldRule("audio_url", Kind.URL, nullable=True, media=AUDIO_INPUT),
            _SEED,
            _SAFETY_FILTER,
        ),
        rules=(
            CrossRule(
                "shot_type",
                "multi",
                "prompt_extend",
                True,
                Effect.IGNORED,
                "shot_type only takes effect when prompt_extend is enabled",
            ),
            CrossRule(
                "audio_url",
                None,
                "audio",
                True,
                Effect.OVERRIDES,
                "a custom audio_url overrides the audio flag",
            ),
        ),
        tier_field="resolution",
        units_field="duration",
    ),
    Endpoint(
        provider=ProviderName.MULEROUTER,
        key="wan2.5-i2i-preview",
        model_id="wan2.5-i2i-preview",
        result=Result.IMAGES,
        doc="docs/providers.md#wan25-i2i-preview",
        fields=(
            _prompt(2000),
            FieldRule(
                "images", Kind.MEDIA_LIST, required=True, min_items=1, max_items=3, media=I2I_INPUT
            ),
            _NEGATIVE_PROMPT,
            FieldRule("size", Kind.SIZE, default="1280*1280", nullable=True, size=I2I_SIZE),
            FieldRule(
                "n",
                Kind.INTEGER,
                default=4,
                minimum=1,
                maximum=4,
                note="images to make; multiplies the cost",
            ),
            _SEED,
            FieldRule("prompt_extend", Kind.BOOLEAN, default=False),
            _SAFETY_FILTER,
        ),
        fixed_tier="image",
        units_field="n",
        image_size_field="size",
    ),
)

VTRIX_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        provider=ProviderName.VTRIX,
        key="wan22_i2v_flash",
        model_id="wan2.2-i2v-flash",
        result=Result.VIDEO,
        doc="docs/providers.md#wan22_i2v_flash",
        sections=(Section("input", required=True), Section("parameters", required=False)),
        fields=(
            FieldRule("model", Kind.TEXT, required=True, choices=("wan22_i2v_flash",)),
            FieldRule(
                "prompt",
                Kind.TEXT,
                max_length=800,
                truncates=True,
                section="input",
                note="not marked required; overflow is truncated, not refused",
            ),
            FieldRule(
                "negative_prompt", Kind.TEXT, max_length=500, truncates=True, section="input"
            ),
            FieldRule("img_url", Kind.MEDIA, required=True, media=VIDEO_INPUT, section="input"),
            FieldRule(
                "resolution",
                Kind.TEXT,
                default="720P",
                choices=("480P", "720P"),
                section="parameters",
            ),
            FieldRule("duration", Kind.INTEGER, default=5, choices=(5,), section="parameters"),
            FieldRule("prompt_extend", Kind.BOOLEAN, default=True, section="parameters"),
            FieldRule("watermark", Kind.BOOLEAN, default=False, section="parameters"),
            FieldRule("seed", Kind.INTEGER, minimum=0, maximum=SEED_MAX, section="parameters"),
        ),
        tier_field="resolution",
        units_field="duration",
    ),
)

ENDPOINTS: tuple[Endpoint, ...] = MULEROUTER_ENDPOINTS + VTRIX_ENDPOINTS
MULEROUTER: Mapping[str, Endpoint] = {endpoint.key: endpoint for endpoint in MULEROUTER_ENDPOINTS}
VTRIX: Mapping[str, Endpoint] = {endpoint.key: endpoint for endpoint in VTRIX_ENDPOINTS}
MODEL_IDS: tuple[str, ...] = tuple(dict.fromkeys(endpoint.model_id for endpoint in ENDPOINTS))

REFUSALS: Mapping[ProviderName, RefusalShape] = {
    ProviderName.MULEROUTER: RefusalShape(400, 2001, "Invalid Request"),
    ProviderName.VTRIX: RefusalShape(400, "invalid_parameter"),
}


# ---------------------------------------------------------------------------------------------
# Applying an entry to a body
# ---------------------------------------------------------------------------------------------


class Refused(ValueError):
    """A body broke the contract. ``problems`` names each field and limit (never a long value)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(" ".join(problems))


_HTTP_URL = re.compile(r"^https?://\S+$")
_DATA_URI_PREFIX = re.compile(r"data:image/(?P<format>[a-z0-9.+-]+);base64,")
_BASE64_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@functools.lru_cache(maxsize=2)
def _base64_leftover(payload: str) -> bytes | None:
    """What is left of ``payload`` once every base64 letter is deleted (only ``=`` in a
    well-formed one), or None when it is not ASCII. One pass at C speed over megabytes, kept
    for the last two payloads: a create's image is looked at here and again for its size."""
    if not payload.isascii():
        return None
    return payload.encode("ascii").translate(None, _BASE64_LETTERS)


def loose_base64(payload: str) -> bool:
    """Letters of the base64 alphabet and ``=``, at least one: what the contract accepts."""
    left = _base64_leftover(payload)
    return bool(payload) and left is not None and not left.strip(b"=")


def strict_base64(payload: str) -> bool:
    """Whether ``b64decode(payload, validate=True)`` would succeed: a multiple of four
    characters of the alphabet, padded with at most two ``=`` at the end."""
    if len(payload) % 4:
        return False
    padding = 2 if payload.endswith("==") else 1 if payload.endswith("=") else 0
    return _base64_leftover(payload) == b"=" * padding


_SIZE = re.compile(r"^(\d{1,6})\*(\d{1,6})$")


def parse_size(value: str) -> tuple[int, int] | None:
    """``"W*H"`` as ``(W, H)``, or None when it is not written that way."""
    match = _SIZE.match(value)
    return None if match is None else (int(match.group(1)), int(match.group(2)))


def validate(endpoint: Endpoint, body: Mapping[str, Any]) -> Record:
    """Check ``body`` against ``endpoint``; return the plain record upstream would act on.

    The record is flat (one key per field name, whatever section it sat in), holds every field
    that was given or has a documented default, and has over-long truncating strings cut.
    Every problem is collected before :class:`Refused` is raised, so one answer names them all.
    """
    problems: list[str] = []
    containers: dict[str | None, Mapping[str, Any]] = {None: body}
    for section in endpoint.sections:
        raw = body.get(section.name)
        if raw is None:
            if section.required:
                problems.append(f"{section.name} is required.")
            containers[section.name] = {}
        elif not isinstance(raw, dict):
            problems.append(f"{section.name} must be an object.")
            containers[section.name] = {}
        else:
            containers[section.name] = raw
    problems.extend(_unknown_keys(endpoint, containers))

    record: Record = {}
    for rule in endpoint.fields:
        container = containers[rule.section]
        key = next((k for k in (rule.name, *rule.aliases) if k in container), None)
        if key is None:
            if rule.required:
                problems.append(f"{rule.path} is required.")
            elif rule.default is not None:
                record[rule.name] = rule.default
            continue
        value = container[key]
        if value is None:
            if not rule.nullable:
                problems.append(f"{rule.path} must not be null.")
            elif rule.default is not None:
                record[rule.name] = rule.default
            continue
        found, cleaned = _check(rule, value)
        problems.extend(found)
        if not found:
            record[rule.name] = cleaned

    if not problems:
        problems.extend(
            _rule_problem(rule) for rule in endpoint.rules if _rule_broken(rule, record)
        )
    if problems:
        raise Refused(problems)
    return record


def _unknown_keys(
    endpoint: Endpoint, containers: Mapping[str | None, Mapping[str, Any]]
) -> list[str]:
    known: dict[str | None, set[str]] = {section: set() for section in containers}
    known[None].update(section.name for section in endpoint.sections)
    for rule in endpoint.fields:
        known[rule.section].update((rule.name, *rule.aliases))
    problems = []
    for section, container in containers.items():
        for key in container:
            if key not in known[section]:
                where = key if section is None else f"{section}.{key}"
                problems.append(f"{where} is not a field of {endpoint.key}.")
    return problems


def _rule_broken(rule: CrossRule, record: Mapping[str, Any]) -> bool:
    """Whether ``rule`` refuses this record (only :attr:`Effect.REFUSED` rules ever do)."""
    if rule.effect is not Effect.REFUSED or rule.field not in record:
        return False
    triggered = rule.value is None or record[rule.field] == rule.value
    return triggered and record.get(rule.other) != rule.other_value


def _rule_problem(rule: CrossRule) -> str:
    return f"{rule.field} needs {rule.other} = {rule.other_value!r}: {rule.note}."


def _check(rule: FieldRule, value: Any) -> tuple[list[str], Any]:
    """The problems with one given, non-null value, and the value as recorded."""
    name = rule.path
    if rule.kind is Kind.BOOLEAN:
        return ([] if isinstance(value, bool) else [f"{name} must be true or false."]), value
    if rule.kind is Kind.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{name} must be a whole number."], value
        return _check_choice(rule, value) or _check_range(rule, value), value
    if rule.kind is Kind.MEDIA_LIST:
        return _check_list(rule, value), value
    if not isinstance(value, str):
        return [f"{name} must be a string."], value
    if rule.kind is Kind.MEDIA:
        return _check_media(rule, value, name), value
    if rule.kind is Kind.URL:
        return ([] if _HTTP_URL.match(value) else [f"{name} must be an http(s) URL."]), value
    if rule.kind is Kind.SIZE:
        return _check_size(rule, value), value
    if rule.required and not value:
        return [f"{name} must not be empty."], value
    choice = _check_choice(rule, value)
    if choice:
        return choice, value
    if rule.max_length is not None and len(value) > rule.max_length:
        if rule.truncates:
            return [], value[: rule.max_length]
        return [f"{name} is too long: {len(value)} characters, at most {rule.max_length}."], value
    return [], value


def _check_choice(rule: FieldRule, value: Value) -> list[str]:
    if not rule.choices or value in rule.choices:
        return []
    return [f"{rule.path} must be one of: {', '.join(str(choice) for choice in rule.choices)}."]


def _check_range(rule: FieldRule, value: int) -> list[str]:
    low, high = rule.minimum, rule.maximum
    if (low is None or value >= low) and (high is None or value <= high):
        return []
    if low is not None and high is not None:
        return [f"{rule.path} must be between {low} and {high}."]
    if low is not None:
        return [f"{rule.path} must be at least {low}."]
    return [f"{rule.path} must be at most {high}."]


def _check_list(rule: FieldRule, value: Any) -> list[str]:
    name = rule.path
    if not isinstance(value, list):
        return [f"{name} must be a list."]
    problems = []
    if rule.min_items is not None and len(value) < rule.min_items:
        problems.append(f"{name} needs at least {rule.min_items} item(s), {len(value)} given.")
    if rule.max_items is not None and len(value) > rule.max_items:
        problems.append(f"{name} takes at most {rule.max_items} item(s), {len(value)} given.")
    for index, item in enumerate(value):
        label = f"{name}[{index}]"
        if not isinstance(item, str):
            problems.append(f"{label} must be a string.")
        else:
            problems.extend(_check_media(rule, item, label))
    return problems


def _check_media(rule: FieldRule, value: str, name: str) -> list[str]:
    formats = rule.media.formats if rule.media is not None else IMAGE_FORMATS
    if _HTTP_URL.match(value):
        return []
    match = _DATA_URI_PREFIX.match(value)
    if (
        match is not None
        and match.group("format") in formats
        and loose_base64(value[match.end() :])
    ):
        return []
    allowed = "|".join(formats)
    return [f"{name} must be an http(s) URL or a data:image/({allowed});base64 URI."]


def _check_size(rule: FieldRule, value: str) -> list[str]:
    name = rule.path
    parsed = parse_size(value)
    if parsed is None:
        return [f"{name} must be written width*height, for example 1280*1280."]
    if rule.size is None:
        return []
    width, height = parsed
    limits = rule.size
    problems = []
    pixels = width * height
    if not limits.min_pixels <= pixels <= limits.max_pixels:
        problems.append(
            f"{name} {width}*{height} has {pixels} pixels; it must have between "
            f"{limits.min_pixels} and {limits.max_pixels}."
        )
    if min(width, height) == 0 or max(width, height) > limits.max_ratio * min(width, height):
        problems.append(
            f"{name} {width}*{height} is outside the aspect ratios "
            f"1:{limits.max_ratio} to {limits.max_ratio}:1."
        )
    return problems
