"""The bot's catalog and the simulator's contracts agree on every documented limit.

Why this test exists: the simulator judges requests by its own reading of the provider documents
(:mod:`bot.simulator.contracts`), the bot by :mod:`bot.catalog`. Every case below is generated
from the contract table: for each field and each limit the table states (presence, JSON type,
each enum value, numeric bounds, string length, list length, media form, the i2i size's pixel
range and aspect ratio, aliases, null) and each cross-field rule, one request at the edge and one
just past it. The contract must give the verdict its own table implies, and the catalog must
agree with it. A limit added to the table is covered without writing a case.

Where the catalog deliberately differs from upstream, the case is listed in ``CATALOG_STRICTER``
or ``CATALOG_LOOSER`` with the reason, and the test checks that it still differs that way (a stale
entry fails). A catalog limit that is *wrong* against the documents belongs in ``CATALOG_WRONG``
as a strict xfail naming the document line; the catalog is not changed from here.

Every request the catalog accepts is also sent through ``provider_body()`` and must then pass the
contract unchanged (nothing truncated, nothing unknown) and price the same (tier and units).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from pydantic_core import PydanticUndefined

from bot.catalog import (
    CATALOG,
    I2I_COMMON_SIZES,
    MAX_AUDIO_BYTES,
    MAX_INPUT_IMAGE_BYTES,
    ModelSpec,
    RequestInvalid,
    VtrixWan22I2VFlashRequest,
    WanRequest,
    spec_for,
)
from bot.config import ProviderName
from bot.media.audio import AUDIO_MAX_SECONDS, AUDIO_MIN_SECONDS
from bot.simulator.contracts import (
    ENDPOINTS,
    MULEROUTER,
    Effect,
    Endpoint,
    FieldRule,
    Kind,
    Refused,
    validate,
)

IMAGE_URL = "https://example.com/frame.png"
AUDIO_URL = "https://example.com/voice.mp3"
SAMPLE_TEXT = "a black cat looks up at the sky"
# A wrong JSON type for each kind; none of them is coerced by either side.
WRONG_TYPE: dict[Kind, Any] = {
    Kind.TEXT: 123,
    Kind.INTEGER: "five",
    Kind.BOOLEAN: "maybe",
    Kind.MEDIA: 42,
    Kind.MEDIA_LIST: IMAGE_URL,
    Kind.URL: 42,
    Kind.SIZE: 1280,
}


def _data_uri(image_format: str) -> str:
    return f"data:image/{image_format};base64,iVBORw0KGgo="


# ---------------------------------------------------------------------------------------------
# Where the catalog deliberately differs from the documents. Keys are case ids
# ("<provider>:<endpoint key>:<tag>"); every key must name a generated case.
# ---------------------------------------------------------------------------------------------

_BLANK_PROMPT = (
    "a whitespace-only prompt is not empty, so upstream takes it (the documents set no minimum), "
    "but it asks for nothing: the catalog refuses it rather than bill for a random result"
)
_VTRIX_TRUNCATES = (
    "Vtrix cuts an over-long prompt silently ('overflow is automatically truncated'); the catalog "
    "refuses it instead so the member's words reach the model intact (catalog docstring)"
)
_NO_NULL = (
    "documented as '| null' (null means the default); the catalog has no null for this field: "
    "the bot leaves a field out instead, which upstream reads the same way"
)
_SHOT_TYPE_IGNORED = (
    "upstream accepts shot_type=multi with prompt_extend off and ignores it ('Only takes effect "
    "when prompt_extend is enabled'); the catalog refuses the combination so the member is told "
    "instead of silently getting a single shot"
)
_AUDIO_OVERRIDES = (
    "upstream accepts audio_url with audio off and uses the file ('Overrides the audio flag'); "
    "the catalog refuses the contradiction so the member decides"
)
_MULTI_SHOTS = (
    "multi_shots is the spelling of one example on the wan2.6 page; the reference says "
    "shot_type, which is the only spelling the bot sends"
)
_TEMPLATE_NAME = (
    "template appears only in an example, with no documented limit; the catalog accepts names of "
    "at most 64 letters, digits, - or _"
)

CATALOG_STRICTER: dict[str, str] = {
    "mulerouter:wan2.2-t2v-plus:prompt=blank": _BLANK_PROMPT,
    "mulerouter:wan2.2-i2v-flash:prompt=blank": _BLANK_PROMPT,
    "mulerouter:wan2.6-i2v:prompt=blank": _BLANK_PROMPT,
    "mulerouter:wan2.5-i2i-preview:prompt=blank": _BLANK_PROMPT,
    "vtrix:wan22_i2v_flash:prompt=length-801": _VTRIX_TRUNCATES,
    "vtrix:wan22_i2v_flash:negative_prompt=length-501": _VTRIX_TRUNCATES,
    "mulerouter:wan2.2-i2v-flash:safety_filter=null": _NO_NULL,
    "mulerouter:wan2.6-i2v:shot_type=null": _NO_NULL,
    "mulerouter:wan2.6-i2v:audio=null": _NO_NULL,
    "mulerouter:wan2.6-i2v:safety_filter=null": _NO_NULL,
    "mulerouter:wan2.5-i2i-preview:size=null": _NO_NULL,
    "mulerouter:wan2.5-i2i-preview:safety_filter=null": _NO_NULL,
    "mulerouter:wan2.6-i2v:shot_type=multi+prompt_extend=False": _SHOT_TYPE_IGNORED,
    "mulerouter:wan2.6-i2v:audio_url=given+audio=False": _AUDIO_OVERRIDES,
    "mulerouter:wan2.6-i2v:shot_type=as-multi_shots": _MULTI_SHOTS,
    "mulerouter:wan2.2-i2v-flash:template=65-chars": _TEMPLATE_NAME,
    "mulerouter:wan2.2-i2v-flash:template=not-a-name": _TEMPLATE_NAME,
}

CATALOG_LOOSER: dict[str, str] = {
    # VtrixWan22I2VFlashRequest.from_provider_body (the catalog's reading of a Vtrix body, used
    # only by tests) looks at model/input/parameters and drops any other top-level key. The bot
    # never sends one: provider_body() writes exactly those three. The round trip checks that.
    "vtrix:wan22_i2v_flash:unknown-top-level-field": "from_provider_body drops unknown keys",
}

# Catalog limits that contradict the documents (strict xfail: fixing the catalog turns it red
# here, and the entry is then removed). Each reason quotes the document line.
CATALOG_WRONG: dict[str, str] = {}

# Extra cases for limits the catalog has and the documents do not, so they are visible here.
# (tag, field, value, accepted by the contract)
EXTRA_CASES: dict[str, tuple[tuple[str, str, Any, bool], ...]] = {
    "mulerouter:wan2.2-i2v-flash": (
        ("template=65-chars", "template", "t" * 65, True),
        ("template=not-a-name", "template", "slow pan!", True),
    ),
}


# ---------------------------------------------------------------------------------------------
# Cases, generated from the contract table
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    endpoint: Endpoint
    tag: str
    body: dict[str, Any]
    documented: bool  # what the contract table says upstream does: accept (True) or refuse

    @property
    def id(self) -> str:
        return f"{self.endpoint.provider}:{self.endpoint.key}:{self.tag}"


def _sample(rule: FieldRule) -> Any:
    """A valid value for ``rule``."""
    if rule.choices:
        return rule.choices[0]
    if rule.default is not None:
        return rule.default
    if rule.example is not None:
        return rule.example
    samples: dict[Kind, Any] = {
        Kind.TEXT: SAMPLE_TEXT,
        Kind.INTEGER: rule.minimum if rule.minimum is not None else 1,
        Kind.BOOLEAN: True,
        Kind.MEDIA: IMAGE_URL,
        Kind.MEDIA_LIST: [IMAGE_URL] * (rule.min_items or 1),
        Kind.URL: AUDIO_URL,
    }
    return samples[rule.kind]


def _put(
    body: dict[str, Any], rule: FieldRule, value: Any, key: str | None = None
) -> dict[str, Any]:
    out = copy.deepcopy(body)
    target = out if rule.section is None else out.setdefault(rule.section, {})
    target[key or rule.name] = value
    return out


def _drop(body: dict[str, Any], rule: FieldRule) -> dict[str, Any]:
    out = copy.deepcopy(body)
    target = out if rule.section is None else out.get(rule.section, {})
    target.pop(rule.name, None)
    return out


def base_body(endpoint: Endpoint) -> dict[str, Any]:
    """The smallest body the contract accepts: every required section and field."""
    body: dict[str, Any] = {s.name: {} for s in endpoint.sections if s.required}
    for rule in endpoint.fields:
        if rule.required:
            body = _put(body, rule, _sample(rule))
    return body


def _outsiders(rule: FieldRule) -> list[Any]:
    """Values just outside an enum."""
    if all(isinstance(choice, int) for choice in rule.choices):
        numbers = sorted(int(choice) for choice in rule.choices)
        gaps = [n for n in range(numbers[0], numbers[-1]) if n not in numbers][:1]
        return [numbers[0] - 1, *gaps, numbers[-1] + 1]
    first = str(rule.choices[0])
    variants = {first.lower(), first.upper()} - {str(choice) for choice in rule.choices}
    return ["", "not-a-choice", *sorted(variants)]


def _size_ok(rule: FieldRule, width: int, height: int) -> bool:
    assert rule.size is not None
    limits = rule.size
    pixels = width * height
    return limits.min_pixels <= pixels <= limits.max_pixels and max(
        width, height
    ) <= limits.max_ratio * min(width, height)


def _size_edges(rule: FieldRule) -> Iterator[tuple[int, int]]:
    assert rule.size is not None
    limits = rule.size
    low = math.isqrt(limits.min_pixels)
    low += low * low < limits.min_pixels
    high = math.isqrt(limits.max_pixels)
    yield from ((low, low), (low - 1, low), (low, low - 1))
    yield from ((high, high), (high + 1, high), (high, high + 1))
    short = math.ceil(math.sqrt(limits.min_pixels / limits.max_ratio))
    long = limits.max_ratio * short
    yield from ((long, short), (short, long), (long + 1, short), (short, long + 1))


def field_cases(endpoint: Endpoint, rule: FieldRule) -> Iterator[Case]:
    base = base_body(endpoint)
    name = rule.name

    def case(tag: str, value: Any, accepted: bool) -> Case:
        return Case(endpoint, f"{name}={tag}", _put(base, rule, value), accepted)

    if rule.required:
        yield Case(endpoint, f"{name}=missing", _drop(base, rule), False)
    else:
        yield Case(endpoint, f"{name}=omitted", _drop(base, rule), True)
        yield case("given", _sample(rule), True)
    if rule.nullable:
        yield case("null", None, True)
    yield case("wrong-type", WRONG_TYPE[rule.kind], False)
    for choice in rule.choices:
        yield case(str(choice), choice, True)
    for outsider in _outsiders(rule) if rule.choices else []:
        yield case(f"outside-{outsider or 'empty'}", outsider, False)
    if rule.minimum is not None:
        yield case(f"{rule.minimum}(min)", rule.minimum, True)
        yield case(f"{rule.minimum - 1}(below-min)", rule.minimum - 1, False)
    if rule.maximum is not None:
        yield case(f"{rule.maximum}(max)", rule.maximum, True)
        yield case(f"{rule.maximum + 1}(above-max)", rule.maximum + 1, False)
    if rule.kind is Kind.TEXT and rule.max_length is not None:
        yield case(f"length-{rule.max_length}", "x" * rule.max_length, True)
        # Past the limit: refused, unless the endpoint documents truncation.
        yield case(f"length-{rule.max_length + 1}", "x" * (rule.max_length + 1), rule.truncates)
    if rule.kind is Kind.TEXT and rule.required and not rule.choices:
        yield case("empty", "", False)
        yield case("blank", "   ", True)
    if rule.kind is Kind.MEDIA_LIST:
        if rule.min_items is not None:
            yield case(f"{rule.min_items}-items", [IMAGE_URL] * rule.min_items, True)
            yield case(f"{rule.min_items - 1}-items", [IMAGE_URL] * (rule.min_items - 1), False)
        if rule.max_items is not None:
            yield case(f"{rule.max_items}-items", [IMAGE_URL] * rule.max_items, True)
            yield case(f"{rule.max_items + 1}-items", [IMAGE_URL] * (rule.max_items + 1), False)
        yield case("item-not-a-url", ["frame.png"], False)
        yield case("item-wrong-type", [42], False)
    if rule.kind in (Kind.MEDIA, Kind.MEDIA_LIST) and rule.media is not None:
        for image_format in rule.media.formats:
            uri = _data_uri(image_format)
            yield case(f"data-uri-{image_format}", uri if rule.kind is Kind.MEDIA else [uri], True)
        gif = _data_uri("gif")
        yield case("data-uri-gif", gif if rule.kind is Kind.MEDIA else [gif], False)
    if rule.kind is Kind.MEDIA:
        yield case("not-a-url", "frame.png", False)
    if rule.kind is Kind.URL:
        yield case("ftp-url", "ftp://example.com/voice.mp3", False)
    if rule.kind is Kind.SIZE:
        yield case("not-width-star-height", "big", False)
        for width, height in _size_edges(rule):
            yield case(f"{width}*{height}", f"{width}*{height}", _size_ok(rule, width, height))
    for alias in rule.aliases:
        value = _sample(rule)
        yield Case(
            endpoint, f"{name}=as-{alias}", _put(_drop(base, rule), rule, value, alias), True
        )


def rule_cases(endpoint: Endpoint) -> Iterator[Case]:
    """Each cross-field rule: the trigger with the expected partner value, and without it."""
    base = base_body(endpoint)
    for rule in endpoint.rules:
        trigger = endpoint.field_named(rule.field)
        other = endpoint.field_named(rule.other)
        value = rule.value if rule.value is not None else _sample(trigger)
        shown = rule.value if rule.value is not None else "given"
        if isinstance(rule.other_value, bool):
            clash: Any = not rule.other_value
        else:
            clash = next(c for c in other.choices if c != rule.other_value)
        with_trigger = _put(base, trigger, value)
        yield Case(
            endpoint,
            f"{rule.field}={shown}+{rule.other}={rule.other_value}",
            _put(with_trigger, other, rule.other_value),
            True,
        )
        yield Case(
            endpoint,
            f"{rule.field}={shown}+{rule.other}={clash}",
            _put(with_trigger, other, clash),
            rule.effect is not Effect.REFUSED,
        )


def shape_cases(endpoint: Endpoint) -> Iterator[Case]:
    """Unknown fields in every object that holds fields, and the sections themselves."""
    base = base_body(endpoint)
    top = "unknown-top-level-field" if endpoint.sections else "unknown-field"
    yield Case(endpoint, top, {**base, "colour": "red"}, False)
    for section in endpoint.sections:
        inner = copy.deepcopy(base)
        inner.setdefault(section.name, {})["colour"] = "red"
        yield Case(endpoint, f"unknown-field-in-{section.name}", inner, False)
        without = {k: v for k, v in base.items() if k != section.name}
        yield Case(endpoint, f"{section.name}=omitted", without, not section.required)
        yield Case(endpoint, f"{section.name}=not-an-object", {**base, section.name: "x"}, False)


def extra_cases(endpoint: Endpoint) -> Iterator[Case]:
    base = base_body(endpoint)
    for tag, name, value, accepted in EXTRA_CASES.get(f"{endpoint.provider}:{endpoint.key}", ()):
        yield Case(endpoint, tag, _put(base, endpoint.field_named(name), value), accepted)


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for endpoint in ENDPOINTS:
        cases.append(Case(endpoint, "minimal", base_body(endpoint), True))
        for rule in endpoint.fields:
            cases.extend(field_cases(endpoint, rule))
        cases.extend(rule_cases(endpoint))
        cases.extend(shape_cases(endpoint))
        cases.extend(extra_cases(endpoint))
    return cases


CASES = all_cases()


def _param(case: Case) -> Any:
    marks = []
    if case.id in CATALOG_WRONG:
        marks.append(pytest.mark.xfail(strict=True, reason=CATALOG_WRONG[case.id]))
    return pytest.param(case, id=case.id, marks=marks)


# ---------------------------------------------------------------------------------------------
# The two verdicts
# ---------------------------------------------------------------------------------------------


def catalog_spec(endpoint: Endpoint) -> ModelSpec:
    spec = spec_for(endpoint.model_id, endpoint.provider)
    assert spec.upstream_id == endpoint.key
    return spec


def catalog_verdict(endpoint: Endpoint, body: dict[str, Any]) -> WanRequest | None:
    """The catalog's request for a wire body, or None when it refuses it."""
    spec = catalog_spec(endpoint)
    data = copy.deepcopy(body)
    try:
        if endpoint.provider is ProviderName.VTRIX:
            assert spec.request_type is VtrixWan22I2VFlashRequest
            data = VtrixWan22I2VFlashRequest.from_provider_body(data)
        return spec.parse(data)
    except RequestInvalid:
        return None


def contract_verdict(endpoint: Endpoint, body: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return validate(endpoint, copy.deepcopy(body))
    except Refused:
        return None


def flatten(endpoint: Endpoint, body: dict[str, Any]) -> dict[str, Any]:
    """A wire body as one level of field names (Vtrix's sections opened)."""
    sections = {section.name for section in endpoint.sections}
    flat = {k: v for k, v in body.items() if k not in sections}
    for name in sections:
        flat.update(body.get(name) or {})
    return flat


def assert_round_trip(endpoint: Endpoint, request: WanRequest) -> None:
    """What the bot would send is accepted unchanged and priced the same."""
    wire = request.provider_body()
    record = contract_verdict(endpoint, wire)
    assert record is not None, f"the contract refuses the bot's own body {wire}"
    sent = flatten(endpoint, wire)
    changed = {k: (v, record.get(k)) for k, v in sent.items() if record.get(k) != v}
    assert not changed, f"the contract reads these fields differently: {changed}"
    assert endpoint.price_tier(record) == request.price_tier()
    assert endpoint.billable_units(record) == request.billable_units()
    assert endpoint.video_seconds(record) == request.video_seconds()


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_catalog_and_contract_agree(case: Case) -> None:
    record = contract_verdict(case.endpoint, case.body)
    contract_ok = record is not None
    assert contract_ok == case.documented, (
        f"the contract does not do what its own table says for {case.id}: {case.body}"
    )
    request = catalog_verdict(case.endpoint, case.body)
    catalog_ok = request is not None
    if case.id in CATALOG_STRICTER:
        assert contract_ok, f"{case.id}: listed as catalog-stricter, but upstream refuses it too"
        assert not catalog_ok, f"{case.id}: the catalog now accepts it; drop it from the list"
    elif case.id in CATALOG_LOOSER:
        assert not contract_ok, f"{case.id}: listed as catalog-looser, but upstream accepts it"
        assert catalog_ok, f"{case.id}: the catalog now refuses it; drop it from the list"
    else:
        verdict = {True: "accepts", False: "refuses"}
        assert catalog_ok == contract_ok, (
            f"{case.id}: the documents say upstream {verdict[contract_ok]} it, the catalog "
            f"{verdict[catalog_ok]} it: {case.body}"
        )
    if request is not None:
        assert_round_trip(case.endpoint, request)


def test_exception_lists_name_generated_cases() -> None:
    ids = {case.id for case in CASES}
    assert len(ids) == len(CASES), "two generated cases share an id"
    for listed in (CATALOG_STRICTER, CATALOG_LOOSER, CATALOG_WRONG):
        assert set(listed) <= ids, f"stale entries: {sorted(set(listed) - ids)}"


# ---------------------------------------------------------------------------------------------
# Facts that are not a single request: coverage, required-ness, defaults, media limits
# ---------------------------------------------------------------------------------------------

# Vtrix's wire names that the catalog spells otherwise, and fields the catalog writes itself.
CATALOG_NAME: dict[tuple[ProviderName, str], str] = {(ProviderName.VTRIX, "img_url"): "image"}
WRITTEN_BY_CATALOG: set[tuple[ProviderName, str]] = {(ProviderName.VTRIX, "model")}
# Documented defaults the catalog deliberately replaces; each such field is always sent, so the
# upstream default never applies (checked below).
DEFAULTS_DIFFER: dict[str, str] = {
    "mulerouter:wan2.5-i2i-preview:n": (
        "upstream makes (and bills) 4 images unless told; the bot defaults to 1 and always sends n"
    ),
}


def test_every_catalog_endpoint_has_a_contract() -> None:
    catalog = {(spec.provider, spec.model_id, spec.upstream_id) for spec in CATALOG}
    contracts = {(e.provider, e.model_id, e.key) for e in ENDPOINTS}
    assert catalog == contracts
    for endpoint in ENDPOINTS:
        assert catalog_spec(endpoint).result_kind.value == endpoint.result.value


FIELD_PARAMS = [
    pytest.param(endpoint, rule, id=f"{endpoint.provider}:{endpoint.key}:{rule.name}")
    for endpoint in ENDPOINTS
    for rule in endpoint.fields
    if (endpoint.provider, rule.name) not in WRITTEN_BY_CATALOG
]


@pytest.mark.parametrize(("endpoint", "rule"), FIELD_PARAMS)
def test_required_and_defaults_agree(endpoint: Endpoint, rule: FieldRule) -> None:
    fields = catalog_spec(endpoint).request_type.model_fields
    name = CATALOG_NAME.get((endpoint.provider, rule.name), rule.name)
    assert name in fields, f"the catalog has no field for {rule.path}"
    info = fields[name]
    assert info.is_required() == rule.required
    catalog_default = None if info.default is PydanticUndefined else info.default
    key = f"{endpoint.provider}:{endpoint.key}:{rule.name}"
    if key in DEFAULTS_DIFFER:
        assert catalog_default != rule.default, f"{key}: defaults agree now; drop the entry"
        minimal = catalog_verdict(endpoint, base_body(endpoint))
        assert minimal is not None
        assert rule.name in flatten(endpoint, minimal.provider_body()), (
            f"{key}: the catalog's default differs, so it must always be sent"
        )
    else:
        assert catalog_default == rule.default


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.provider}:{e.key}")
def test_media_limits_agree(endpoint: Endpoint) -> None:
    spec = catalog_spec(endpoint)
    images = [r for r in endpoint.media_fields() if r.kind in (Kind.MEDIA, Kind.MEDIA_LIST)]
    audio = [r for r in endpoint.media_fields() if r.kind is Kind.URL]
    if not images:
        assert spec.image_bounds is None
        assert spec.max_images == 0
    for rule in images:
        assert rule.media is not None
        assert spec.image_bounds is not None
        sides = (spec.image_bounds.min_side, spec.image_bounds.max_side)
        assert (rule.media.min_side, rule.media.max_side) == sides, rule.path
        assert rule.media.max_bytes == MAX_INPUT_IMAGE_BYTES, rule.path
    lists = [r for r in images if r.kind is Kind.MEDIA_LIST]
    if lists:
        assert spec.max_images == lists[0].max_items
    elif images:
        # One first-frame image; a last frame is a second, optional field, not a second image.
        assert spec.max_images == sum(r.required for r in images) == 1
    for rule in audio:
        assert rule.media is not None
        assert rule.media.max_bytes == MAX_AUDIO_BYTES
        assert (rule.media.min_seconds, rule.media.max_seconds) == (
            AUDIO_MIN_SECONDS,
            AUDIO_MAX_SECONDS,
        )


def test_the_catalogs_suggested_i2i_sizes_are_accepted() -> None:
    endpoint = MULEROUTER["wan2.5-i2i-preview"]
    size = endpoint.field_named("size")
    for value in I2I_COMMON_SIZES:
        assert contract_verdict(endpoint, _put(base_body(endpoint), size, value)), value


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.provider}:{e.key}")
def test_the_table_is_consistent(endpoint: Endpoint) -> None:
    """Unique names, and every default and sample passes its own field's checks."""
    names = [rule.name for rule in endpoint.fields]
    assert len(names) == len(set(names))
    base = base_body(endpoint)
    for rule in endpoint.fields:
        for value in (rule.default, _sample(rule)):
            if value is not None:
                assert contract_verdict(endpoint, _put(base, rule, value)) is not None, rule.path
    record = contract_verdict(endpoint, base)
    assert record is not None
    assert endpoint.billable_units(record) > Decimal(0)
