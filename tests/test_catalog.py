"""Every documented field limit of every catalog model (``docs/providers.md``).

Each table below is written from the provider documents, not from ``bot/catalog.py``: a limit
that drifts from the docs makes a row fail. A refused request must raise :class:`RequestInvalid`
whose sentences name the field and the limit, and never echo a long value back.
"""

from __future__ import annotations

import base64
import json
import typing
from typing import Any

import pytest
from pydantic import ValidationError

from bot.catalog import (
    CATALOG,
    DATA_URI_MIMES,
    I2I_COMMON_SIZES,
    I2I_INPUT_BOUNDS,
    MODEL_IDS,
    VIDEO_INPUT_BOUNDS,
    MediaRole,
    ModelSpec,
    PixelBounds,
    PriceUnit,
    RequestInvalid,
    ResultKind,
    UnknownModel,
    VtrixWan22I2VFlashRequest,
    WanI2I25Request,
    WanI2V26Request,
    WanI2VFlashRequest,
    WanRequest,
    WanT2VPlusRequest,
    data_uri,
    is_data_uri,
    resolve,
    spec_for,
)
from bot.config import ProviderName, Settings, load_settings
from bot.providers import create_path, poll_path

IMG = "https://example.com/first.jpg"
IMG2 = "https://example.com/second.png"
PNG_URI = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAE="
SEED_MAX = 2_147_483_647

T2V = WanT2VPlusRequest
FLASH = WanI2VFlashRequest
VTRIX = VtrixWan22I2VFlashRequest
I2V26 = WanI2V26Request
I2I = WanI2I25Request

# The smallest valid request of each model; tests add or override fields on top of it.
MINIMAL: dict[type[WanRequest], dict[str, Any]] = {
    T2V: {"prompt": "a cat running in the moonlight"},
    FLASH: {"prompt": "the subject turns and smiles", "image": IMG},
    VTRIX: {"prompt": "the subject turns and smiles", "image": IMG},
    I2V26: {"prompt": "a black cat looks at the sky", "image": IMG},
    I2I: {"prompt": "make it an oil painting", "images": [IMG]},
}
NAMES = {
    T2V: "t2v-plus",
    FLASH: "i2v-flash",
    VTRIX: "vtrix-flash",
    I2V26: "i2v-2.6",
    I2I: "i2i-2.5",
}
ALL_MODELS = list(MINIMAL)
MULEROUTER_MODELS = [T2V, FLASH, I2V26, I2I]


def _id(value: object) -> str:
    if isinstance(value, type) and value in NAMES:
        return NAMES[value]
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 30 else f"{text[:12]}...({len(text)})"


def ok(cls: type[WanRequest], **fields: Any) -> WanRequest:
    return cls.parse({**MINIMAL[cls], **fields})


def refused(cls: type[WanRequest], **fields: Any) -> RequestInvalid:
    with pytest.raises(RequestInvalid) as info:
        cls.parse({**MINIMAL[cls], **fields})
    err = info.value
    assert err.problems, "a refusal must list at least one problem"
    assert all(isinstance(p, str) and p for p in err.problems)
    assert str(err) == " ".join(err.problems)
    return err


def only_problem(cls: type[WanRequest], **fields: Any) -> str:
    err = refused(cls, **fields)
    assert len(err.problems) == 1, err.problems
    return err.problems[0]


# ---------------------------------------------------------------------------------------------
# Field inventory and defaults, straight from the docs
# ---------------------------------------------------------------------------------------------

# Every documented body field with its documented default (None: optional, no default, omitted).
DOCUMENTED_DEFAULTS: dict[type[WanRequest], dict[str, Any]] = {
    T2V: {
        "negative_prompt": None,
        "size": "1920*1080",
        "duration": 5,
        "prompt_extend": True,
        "seed": None,
    },
    FLASH: {
        "negative_prompt": None,
        "resolution": "720P",
        "duration": 5,
        "prompt_extend": True,
        "seed": None,
        "safety_filter": True,
        "template": None,
    },
    VTRIX: {
        "negative_prompt": None,
        "resolution": "720P",
        "duration": 5,
        "prompt_extend": True,
        "watermark": False,
        "seed": None,
    },
    I2V26: {
        "last_frame": None,
        "negative_prompt": None,
        "resolution": "720P",
        "duration": 5,
        "prompt_extend": True,
        "shot_type": "single",
        "audio": True,
        "audio_url": None,
        "seed": None,
        "safety_filter": True,
    },
    I2I: {
        # Deliberate deviation: upstream n defaults to 4 (and 4x the bill); ours is 1.
        "negative_prompt": None,
        "size": "1280*1280",
        "n": 1,
        "seed": None,
        "prompt_extend": False,
        "safety_filter": True,
    },
}


@pytest.mark.parametrize("cls", ALL_MODELS, ids=_id)
def test_fields_are_exactly_the_documented_ones(cls: type[WanRequest]) -> None:
    expected = set(MINIMAL[cls]) | set(DOCUMENTED_DEFAULTS[cls])
    if cls is VTRIX:
        expected.add("prompt")
    assert set(cls.model_fields) == expected


@pytest.mark.parametrize("cls", ALL_MODELS, ids=_id)
def test_defaults_equal_the_documented_defaults(cls: type[WanRequest]) -> None:
    request = ok(cls)
    assert request.model_dump() == {**MINIMAL[cls], **DOCUMENTED_DEFAULTS[cls]}


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (
            T2V,
            {
                "prompt": "a cat running in the moonlight",
                "size": "1920*1080",
                "duration": 5,
                "prompt_extend": True,
            },
        ),
        (
            FLASH,
            {
                "prompt": "the subject turns and smiles",
                "image": IMG,
                "resolution": "720P",
                "duration": 5,
                "prompt_extend": True,
                "safety_filter": True,
            },
        ),
        (
            I2V26,
            {
                "prompt": "a black cat looks at the sky",
                "image": IMG,
                "resolution": "720P",
                "duration": 5,
                "prompt_extend": True,
                "shot_type": "single",
                "audio": True,
                "safety_filter": True,
            },
        ),
        (
            I2I,
            {
                "prompt": "make it an oil painting",
                "images": [IMG],
                "size": "1280*1280",
                "n": 1,
                "prompt_extend": False,
                "safety_filter": True,
            },
        ),
        (
            VTRIX,
            {
                "model": "wan22_i2v_flash",
                "input": {"prompt": "the subject turns and smiles", "img_url": IMG},
                "parameters": {
                    "resolution": "720P",
                    "duration": 5,
                    "prompt_extend": True,
                    "watermark": False,
                },
            },
        ),
    ],
    ids=_id,
)
def test_minimal_body_sends_defaults_explicitly_and_omits_unset(
    cls: type[WanRequest], expected: dict[str, Any]
) -> None:
    assert ok(cls).provider_body() == expected


def test_i2i_always_sends_n_even_when_left_at_default() -> None:
    body = ok(I2I).provider_body()
    assert "n" in body
    assert body["n"] == 1
    assert I2I.model_fields["n"].default == 1


# ---------------------------------------------------------------------------------------------
# Text limits
# ---------------------------------------------------------------------------------------------

PROMPT_LIMITS = [(T2V, 800), (FLASH, 800), (VTRIX, 800), (I2V26, 2000), (I2I, 2000)]


@pytest.mark.parametrize(("cls", "limit"), PROMPT_LIMITS, ids=_id)
def test_prompt_at_limit_is_accepted(cls: type[WanRequest], limit: int) -> None:
    assert ok(cls, prompt="p" * limit).prompt == "p" * limit


@pytest.mark.parametrize(("cls", "limit"), PROMPT_LIMITS, ids=_id)
def test_prompt_past_limit_is_refused_naming_field_and_limit(
    cls: type[WanRequest], limit: int
) -> None:
    message = only_problem(cls, prompt="p" * (limit + 1))
    assert "prompt" in message
    assert "too long" in message
    assert str(limit) in message
    assert str(limit + 1) in message  # how long it was, so the member knows how much to cut


@pytest.mark.parametrize("cls", ALL_MODELS, ids=_id)
def test_negative_prompt_limit_is_500(cls: type[WanRequest]) -> None:
    assert ok(cls, negative_prompt="n" * 500).negative_prompt == "n" * 500
    message = only_problem(cls, negative_prompt="n" * 501)
    assert "negative prompt" in message
    assert "500" in message
    assert "501" in message


@pytest.mark.parametrize("cls", MULEROUTER_MODELS, ids=_id)
@pytest.mark.parametrize(
    ("prompt", "word"), [("", "required"), ("   ", "empty"), ("\n\t ", "empty")], ids=repr
)
def test_blank_prompt_is_refused(cls: type[WanRequest], prompt: str, word: str) -> None:
    message = only_problem(cls, prompt=prompt)
    assert "prompt" in message
    assert word in message


@pytest.mark.parametrize("cls", MULEROUTER_MODELS, ids=_id)
def test_missing_prompt_is_refused(cls: type[WanRequest]) -> None:
    data = {k: v for k, v in MINIMAL[cls].items() if k != "prompt"}
    with pytest.raises(RequestInvalid) as info:
        cls.parse(data)
    assert info.value.problems == ["The prompt is required."]


def test_vtrix_prompt_is_optional_and_omitted_when_absent() -> None:
    # Vtrix documents ``prompt`` without "required" (only img_url is).
    request = VTRIX.parse({"image": IMG})
    assert request.prompt is None
    assert "prompt" not in request.provider_body()["input"]


# ---------------------------------------------------------------------------------------------
# Seed and other whole numbers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL_MODELS, ids=_id)
@pytest.mark.parametrize("seed", [0, 1, 1073741823, SEED_MAX])
def test_seed_in_range_is_accepted(cls: type[WanRequest], seed: int) -> None:
    request = ok(cls, seed=seed)
    assert request.seed == seed


@pytest.mark.parametrize("cls", ALL_MODELS, ids=_id)
@pytest.mark.parametrize("seed", [-1, SEED_MAX + 1, 10**12])
def test_seed_out_of_range_is_refused_with_the_range(cls: type[WanRequest], seed: int) -> None:
    message = only_problem(cls, seed=seed)
    assert message == "The seed must be between 0 and 2147483647."


@pytest.mark.parametrize("cls", ALL_MODELS, ids=_id)
@pytest.mark.parametrize("seed", ["abc", 1.5, "1.5", [1]], ids=repr)
def test_seed_must_be_a_whole_number(cls: type[WanRequest], seed: object) -> None:
    message = only_problem(cls, seed=seed)
    assert "seed" in message
    assert "whole number" in message


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_i2i_n_in_range_is_accepted_and_sent(n: int) -> None:
    assert ok(I2I, n=n).provider_body()["n"] == n


@pytest.mark.parametrize("n", [0, 5, -1])
def test_i2i_n_out_of_range_is_refused(n: int) -> None:
    message = only_problem(I2I, n=n)
    assert "n (number of images)" in message
    assert "between 1 and 4" in message


def test_i2i_n_must_be_a_whole_number() -> None:
    message = only_problem(I2I, n="abc")
    assert "n (number of images)" in message
    assert "whole number" in message


# ---------------------------------------------------------------------------------------------
# Enumerations
# ---------------------------------------------------------------------------------------------

T2V_SIZES_DOC = [
    "832*480",
    "480*832",
    "624*624",
    "1920*1080",
    "1080*1920",
    "1440*1440",
    "1632*1248",
    "1248*1632",
]

# (model, field, label in messages, every documented option, undocumented values)
ENUMS = [
    (T2V, "size", "size", T2V_SIZES_DOC, ["1280*720", "1920x1080", "832*481", ""]),
    (T2V, "duration", "duration", [5], [10, 0, 4]),
    (FLASH, "resolution", "resolution", ["480P", "720P"], ["1080P", "720p", "360P"]),
    (FLASH, "duration", "duration", [5], [10, 3]),
    (VTRIX, "resolution", "resolution", ["480P", "720P"], ["1080P", "480"]),
    (VTRIX, "duration", "duration", [5], [10, 15]),
    (I2V26, "resolution", "resolution", ["720P", "1080P"], ["480P", "4K"]),
    (I2V26, "duration", "duration", [5, 10, 15], [6, 20, 0, 3]),
    (I2V26, "shot_type", "shot type", ["single", "multi"], ["multiple", "Multi", ""]),
]
ENUM_ACCEPT = [
    pytest.param(cls, field, option, id=f"{NAMES[cls]}-{field}-{option}")
    for cls, field, _label, options, _bad in ENUMS
    for option in options
]
ENUM_REFUSE = [
    pytest.param(cls, field, label, options, bad, id=f"{NAMES[cls]}-{field}-{bad!r}")
    for cls, field, label, options, bads in ENUMS
    for bad in bads
]


@pytest.mark.parametrize(("cls", "field", "option"), ENUM_ACCEPT)
def test_every_documented_option_is_accepted(
    cls: type[WanRequest], field: str, option: object
) -> None:
    request = ok(cls, **{field: option})
    assert getattr(request, field) == option


@pytest.mark.parametrize(("cls", "field", "label", "options", "bad"), ENUM_REFUSE)
def test_undocumented_option_is_refused_listing_the_options(
    cls: type[WanRequest], field: str, label: str, options: list[object], bad: object
) -> None:
    message = only_problem(cls, **{field: bad})
    assert message.startswith(f"The {label} must be one of: ")
    listed = message.removeprefix(f"The {label} must be one of: ")
    for option in options:
        assert str(option) in listed
    assert "'" not in message  # options are listed plainly, not as Python reprs


@pytest.mark.parametrize(
    ("cls", "field", "options"),
    [pytest.param(c, f, o, id=f"{NAMES[c]}-{f}") for c, f, _l, o, _b in ENUMS],
)
def test_enum_annotation_matches_the_docs(
    cls: type[WanRequest], field: str, options: list[object]
) -> None:
    # Literal options in the model are exactly the documented ones, no more.
    assert set(typing.get_args(cls.model_fields[field].annotation)) == set(options)


def test_t2v_size_from_an_example_only_is_refused() -> None:
    # "1280*720" appears in the docs' negative-prompt example, not in the enum.
    message = only_problem(T2V, size="1280*720")
    for size in T2V_SIZES_DOC:
        assert size in message


# ---------------------------------------------------------------------------------------------
# Booleans
# ---------------------------------------------------------------------------------------------

# (model, field, label, documented default)
BOOLS = [
    (T2V, "prompt_extend", "prompt extend", True),
    (FLASH, "prompt_extend", "prompt extend", True),
    (FLASH, "safety_filter", "safety filter", True),
    (VTRIX, "prompt_extend", "prompt extend", True),
    (VTRIX, "watermark", "watermark", False),
    (I2V26, "prompt_extend", "prompt extend", True),
    (I2V26, "audio", "audio", True),
    (I2V26, "safety_filter", "safety filter", True),
    (I2I, "prompt_extend", "prompt extend", False),
    (I2I, "safety_filter", "safety filter", True),
]
BOOL_IDS = [f"{NAMES[c]}-{f}" for c, f, _l, _d in BOOLS]


@pytest.mark.parametrize(("cls", "field", "label", "default"), BOOLS, ids=BOOL_IDS)
def test_boolean_default_and_both_values(
    cls: type[WanRequest], field: str, label: str, default: bool
) -> None:
    assert getattr(ok(cls), field) is default
    for value in (True, False):
        request = ok(cls, **{field: value})
        assert getattr(request, field) is value
        body = request.provider_body()
        sent = body["parameters"][field] if cls is VTRIX else body[field]
        assert sent is value


@pytest.mark.parametrize(("cls", "field", "label", "default"), BOOLS, ids=BOOL_IDS)
def test_boolean_refuses_non_boolean(
    cls: type[WanRequest], field: str, label: str, default: bool
) -> None:
    assert only_problem(cls, **{field: "maybe"}) == f"The {label} must be true or false."


# ---------------------------------------------------------------------------------------------
# Media fields
# ---------------------------------------------------------------------------------------------

# (model, field, label) for every field that carries an image, singly.
IMAGE_FIELDS = [
    (FLASH, "image", "image"),
    (VTRIX, "image", "image"),
    (I2V26, "image", "image"),
    (I2V26, "last_frame", "last frame"),
]
GOOD_IMAGES = [
    "https://example.com/a.jpg",
    "http://example.com/a.webp?x=1",
    "data:image/jpeg;base64,/9j/4AAQSkZJRg==",
    "data:image/png;base64,iVBORw0KGgo=",
    "data:image/bmp;base64,Qk0=",
    "data:image/webp;base64,UklGRg==",
]
BAD_IMAGES = [
    "",
    "not an image",
    "example.com/a.jpg",
    "ftp://example.com/a.jpg",
    "file:///etc/passwd",
    "https://",
    "data:image/gif;base64,R0lGODlh",
    "data:image/svg+xml;base64,PHN2Zz4=",
    "data:text/plain;base64,aGVsbG8=",
    "data:image/png,iVBORw0KGgo",
    "data:image/png;base64,not base64!",
]
IMAGE_FIELD_IDS = [f"{NAMES[c]}-{f}" for c, f, _l in IMAGE_FIELDS]


@pytest.mark.parametrize(("cls", "field", "label"), IMAGE_FIELDS, ids=IMAGE_FIELD_IDS)
@pytest.mark.parametrize("value", GOOD_IMAGES, ids=_id)
def test_image_accepts_url_or_supported_data_uri(
    cls: type[WanRequest], field: str, label: str, value: str
) -> None:
    assert getattr(ok(cls, **{field: value}), field) == value


@pytest.mark.parametrize(("cls", "field", "label"), IMAGE_FIELDS, ids=IMAGE_FIELD_IDS)
@pytest.mark.parametrize("value", BAD_IMAGES, ids=_id)
def test_image_refuses_anything_else(
    cls: type[WanRequest], field: str, label: str, value: str
) -> None:
    message = only_problem(cls, **{field: value})
    assert message == f"The {label} must be an attached image (JPEG, PNG, BMP or WEBP)."


@pytest.mark.parametrize(
    ("cls", "field"),
    [(FLASH, "image"), (VTRIX, "image"), (I2V26, "image"), (I2I, "images")],
    ids=_id,
)
def test_missing_image_is_refused(cls: type[WanRequest], field: str) -> None:
    data = {k: v for k, v in MINIMAL[cls].items() if k != field}
    with pytest.raises(RequestInvalid) as info:
        cls.parse(data)
    assert info.value.problems == [f"The {field} is required."]


@pytest.mark.parametrize("count", [1, 2, 3])
def test_i2i_accepts_one_to_three_images(count: int) -> None:
    images = [PNG_URI, IMG, IMG2][:count]
    assert ok(I2I, images=images).provider_body()["images"] == images


def test_i2i_refuses_zero_images() -> None:
    message = only_problem(I2I, images=[])
    assert "images" in message
    assert "1" in message


def test_i2i_refuses_four_images() -> None:
    message = only_problem(I2I, images=[IMG, IMG2, PNG_URI, IMG])
    assert message == "Too many images: 4 given; at most 3."


def test_i2i_names_which_image_is_wrong() -> None:
    message = only_problem(I2I, images=[IMG, "data:image/gif;base64,R0lGODlh"])
    assert message == "The images #2 must be an attached image (JPEG, PNG, BMP or WEBP)."


def test_i2i_images_must_be_a_list() -> None:
    message = only_problem(I2I, images=IMG)
    assert "images" in message


# ---------------------------------------------------------------------------------------------
# wan2.5-i2i-preview size: W*H, 768*768..1440*1440 pixels, aspect 1:4..4:1
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "normalised"),
    [
        ("1280*1280", "1280*1280"),
        ("768*768", "768*768"),  # exactly the minimum pixel count
        ("1440*1440", "1440*1440"),  # exactly the maximum pixel count
        ("1024*576", "1024*576"),  # 589,824 pixels = 768*768, another shape
        ("2048*512", "2048*512"),  # exactly 4:1
        ("512*2048", "512*2048"),  # exactly 1:4
        ("2880*720", "2880*720"),  # 4:1 at exactly the maximum pixel count
        ("1280*720", "1280*720"),  # from the docs' examples
        ("960*1280", "960*1280"),
        ("1280x720", "1280*720"),
        ("1280X720", "1280*720"),
        ("1280×720", "1280*720"),
        (" 1280 * 720 ", "1280*720"),
    ],
    ids=repr,
)
def test_i2i_size_accepted_and_normalised(size: str, normalised: str) -> None:
    request = ok(I2I, size=size)
    assert request.size == normalised
    assert request.provider_body()["size"] == normalised


@pytest.mark.parametrize("size", I2I_COMMON_SIZES)
def test_i2i_common_sizes_offered_are_all_valid(size: str) -> None:
    assert ok(I2I, size=size).size == size


@pytest.mark.parametrize(
    "size",
    ["767*768", "768*767", "1024*575", "640*480", "1440*1441", "1441*1440", "2048*2048"],
)
def test_i2i_size_outside_pixel_range_is_refused(size: str) -> None:
    message = only_problem(I2I, size=size)
    assert message.startswith(f"The size {size} has ")
    assert "768*768" in message
    assert "1440*1440" in message
    assert "589,824" in message
    assert "2,073,600" in message


@pytest.mark.parametrize("size", ["2049*512", "512*2049", "2100*500", "500*2100"])
def test_i2i_size_beyond_four_to_one_is_refused(size: str) -> None:
    message = only_problem(I2I, size=size)
    assert message.startswith(f"The size {size} ")
    assert "1:4" in message
    assert "4:1" in message


@pytest.mark.parametrize(
    "size", ["", "1280", "1280*", "*720", "1280:720", "1280*720*2", "big", "1280.5*720", "-1*-1"]
)
def test_i2i_size_must_be_width_star_height(size: str) -> None:
    message = only_problem(I2I, size=size)
    assert message == "The size must be written as width*height, for example 1280*1280."


# ---------------------------------------------------------------------------------------------
# wan2.6-i2v cross-field rules, audio_url, last_frame
# ---------------------------------------------------------------------------------------------


def test_multi_shot_needs_prompt_extend() -> None:
    message = only_problem(I2V26, shot_type="multi", prompt_extend=False)
    assert "multi" in message
    assert "prompt extend" in message


@pytest.mark.parametrize(
    ("shot_type", "prompt_extend"), [("multi", True), ("single", True), ("single", False)]
)
def test_shot_type_combinations_that_are_allowed(shot_type: str, prompt_extend: bool) -> None:
    body = ok(I2V26, shot_type=shot_type, prompt_extend=prompt_extend).provider_body()
    assert body["shot_type"] == shot_type
    assert body["prompt_extend"] is prompt_extend
    assert "multi_shots" not in body  # the documented field is shot_type


def test_multi_shots_spelling_from_the_example_is_not_an_option() -> None:
    assert only_problem(I2V26, multi_shots="multi") == (
        "multi_shots is not an option of this model."
    )


def test_audio_url_with_audio_off_is_refused() -> None:
    message = only_problem(I2V26, audio_url="https://example.com/song.mp3", audio=False)
    assert "audio" in message
    assert "off" in message


@pytest.mark.parametrize(
    "url", ["https://example.com/song.mp3", "http://example.com/voice.wav?sig=abc"]
)
def test_audio_url_http_or_https_is_accepted_and_sent(url: str) -> None:
    body = ok(I2V26, audio_url=url).provider_body()
    assert body["audio_url"] == url
    assert body["audio"] is True


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/song.mp3",
        "song.mp3",
        "",
        "data:audio/mpeg;base64,SUQz",
        "https://example.com/a song.mp3",
    ],
    ids=repr,
)
def test_audio_url_must_be_http_or_https(url: str) -> None:
    assert only_problem(I2V26, audio_url=url) == (
        "The audio file must be a link to a WAV or MP3 file."
    )


def test_last_frame_is_optional_and_sent_when_given() -> None:
    assert "last_frame" not in ok(I2V26).provider_body()
    assert ok(I2V26, last_frame=IMG2).provider_body()["last_frame"] == IMG2


def test_both_cross_field_problems_are_reported_together() -> None:
    err = refused(
        I2V26,
        shot_type="multi",
        prompt_extend=False,
        audio_url="https://example.com/song.mp3",
        audio=False,
    )
    assert len(err.problems) == 2
    assert any("multi" in p for p in err.problems)
    assert any("audio is off" in p for p in err.problems)


# ---------------------------------------------------------------------------------------------
# wan2.2-i2v-flash template (documented only by example: "solaron")
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("template", ["solaron", "a", "A-b_9", "t" * 64])
def test_flash_template_names_are_accepted_and_sent(template: str) -> None:
    assert ok(FLASH, template=template).provider_body()["template"] == template


@pytest.mark.parametrize("template", ["", "t" * 65, "two words", "../etc", "solaron!"], ids=_id)
def test_flash_template_bad_names_are_refused(template: str) -> None:
    message = only_problem(FLASH, template=template)
    assert "template" in message
    assert "64" in message


# ---------------------------------------------------------------------------------------------
# Unknown fields, several problems, no echo
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "field"),
    [
        (T2V, "image"),
        (T2V, "resolution"),
        (FLASH, "last_frame"),
        (VTRIX, "safety_filter"),
        (VTRIX, "img_url"),
        (I2V26, "template"),
        (I2I, "image"),
        (I2I, "style"),
    ],
    ids=_id,
)
def test_unknown_field_is_refused_by_name(cls: type[WanRequest], field: str) -> None:
    assert only_problem(cls, **{field: "x"}) == f"{field} is not an option of this model."


def test_several_problems_are_reported_together() -> None:
    err = refused(
        T2V,
        prompt="p" * 801,
        negative_prompt="n" * 501,
        seed=-1,
        size="1280*720",
        duration=10,
        prompt_extend="maybe",
        colour="red",
    )
    assert len(err.problems) == 7
    joined = " ".join(err.problems)
    for fragment in (
        "prompt is too long",
        "negative prompt is too long",
        "seed must be between",
        "size must be one of",
        "duration must be one of",
        "prompt extend must be true or false",
        "colour is not an option",
    ):
        assert fragment in joined


def test_several_problems_in_i2i_are_reported_together() -> None:
    err = refused(I2I, images=[IMG] * 4, n=9, size="100*100", negative_prompt="n" * 501)
    assert len(err.problems) == 4


@pytest.mark.parametrize("cls", ALL_MODELS, ids=_id)
def test_long_prompt_is_never_echoed(cls: type[WanRequest]) -> None:
    prompt = "Secret plan for a surprise party. " * 150  # ~5000 characters
    prompt = prompt[:5000]
    err = refused(cls, prompt=prompt, negative_prompt=prompt)
    assert "5000" in str(err)
    for text in (str(err), *err.problems, repr(err), str(err.__context__ or "")):
        assert prompt not in text
        assert "Secret plan" not in text
    assert err.__cause__ is None


@pytest.mark.parametrize(
    ("cls", "field", "wrap"),
    [
        (FLASH, "image", str),
        (VTRIX, "image", str),
        (I2V26, "image", str),
        (I2V26, "last_frame", str),
        (I2I, "images", lambda v: [v]),
    ],
    ids=_id,
)
def test_long_base64_is_never_echoed(cls: type[WanRequest], field: str, wrap: Any) -> None:
    payload = "R0lGODlh" + "QUJD" * 20_000
    err = refused(cls, **{field: wrap(f"data:image/gif;base64,{payload}")})
    for text in (str(err), *err.problems, repr(err), str(err.__context__ or "")):
        assert payload[:40] not in text
        assert len(text) < 500


def test_request_is_immutable_once_checked() -> None:
    request = ok(T2V)
    with pytest.raises(ValidationError):
        request.prompt = "changed"  # type: ignore[misc]


def test_parse_refuses_a_non_mapping() -> None:
    with pytest.raises(RequestInvalid) as info:
        T2V.parse("a cat")  # type: ignore[arg-type]
    assert len(info.value.problems) == 1


# ---------------------------------------------------------------------------------------------
# Exact bodies for a full request of each model
# ---------------------------------------------------------------------------------------------

FULL: dict[type[WanRequest], dict[str, Any]] = {
    T2V: {
        "prompt": "Sunset over the ocean",
        "negative_prompt": "blurry, low quality",
        "size": "832*480",
        "duration": 5,
        "prompt_extend": False,
        "seed": 42,
    },
    FLASH: {
        "prompt": "Gentle motion, camera slowly pans right",
        "image": PNG_URI,
        "negative_prompt": "blurry",
        "resolution": "480P",
        "duration": 5,
        "prompt_extend": False,
        "seed": 0,
        "safety_filter": False,
        "template": "solaron",
    },
    I2V26: {
        "prompt": "Character starts walking",
        "image": IMG,
        "last_frame": IMG2,
        "negative_prompt": "distorted",
        "resolution": "1080P",
        "duration": 15,
        "prompt_extend": True,
        "shot_type": "multi",
        "audio": True,
        "audio_url": "https://example.com/song.mp3",
        "seed": SEED_MAX,
        "safety_filter": False,
    },
    I2I: {
        "prompt": "Combine these two images",
        "images": [IMG, PNG_URI],
        "negative_prompt": "blurry",
        "size": "1280*720",
        "n": 3,
        "seed": 7,
        "prompt_extend": True,
        "safety_filter": False,
    },
}


@pytest.mark.parametrize("cls", list(FULL), ids=_id)
def test_mulerouter_full_body_is_flat_and_exact(cls: type[WanRequest]) -> None:
    body = cls.parse(FULL[cls]).provider_body()
    assert body == FULL[cls]
    assert json.loads(json.dumps(body)) == body


def test_mulerouter_body_sends_seed_zero() -> None:
    # 0 is a valid seed; it must not be dropped as "falsy".
    assert ok(T2V, seed=0).provider_body()["seed"] == 0


def test_vtrix_full_body_is_nested_and_exact() -> None:
    request = VTRIX.parse(
        {
            "prompt": "Subject starts moving slowly",
            "negative_prompt": "blurry",
            "image": PNG_URI,
            "resolution": "480P",
            "duration": 5,
            "prompt_extend": False,
            "watermark": True,
            "seed": 123,
        }
    )
    assert request.provider_body() == {
        "model": "wan22_i2v_flash",
        "input": {
            "prompt": "Subject starts moving slowly",
            "negative_prompt": "blurry",
            "img_url": PNG_URI,
        },
        "parameters": {
            "resolution": "480P",
            "duration": 5,
            "prompt_extend": False,
            "watermark": True,
            "seed": 123,
        },
    }


@pytest.mark.parametrize(
    "data",
    [
        {"image": IMG},
        {"prompt": "p", "image": PNG_URI, "seed": 0},
        {
            "prompt": "p",
            "negative_prompt": "n",
            "image": IMG,
            "resolution": "480P",
            "duration": 5,
            "prompt_extend": False,
            "watermark": True,
            "seed": SEED_MAX,
        },
    ],
    ids=["image-only", "seed-zero", "everything"],
)
def test_vtrix_from_provider_body_round_trip(data: dict[str, Any]) -> None:
    request = VTRIX.parse(data)
    flat = VTRIX.from_provider_body(request.provider_body())
    assert VTRIX.parse(flat) == request


def test_vtrix_from_provider_body_without_parameters() -> None:
    flat = VTRIX.from_provider_body({"model": "wan22_i2v_flash", "input": {"img_url": IMG}})
    assert flat == {"image": IMG}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": "wan2.2-i2v-flash", "input": {"img_url": IMG}}, "wan22_i2v_flash"),
        ({"input": {"img_url": IMG}}, "wan22_i2v_flash"),
        ({"model": "wan22_i2v_flash", "input": "x"}, "input and parameters"),
        ({"model": "wan22_i2v_flash"}, "input and parameters"),
        ({"model": "wan22_i2v_flash", "input": {}, "parameters": []}, "input and parameters"),
    ],
    ids=["wrong-model", "no-model", "input-not-object", "no-input", "parameters-not-object"],
)
def test_vtrix_from_provider_body_refuses_bad_shapes(body: dict[str, Any], fragment: str) -> None:
    with pytest.raises(RequestInvalid) as info:
        VTRIX.from_provider_body(body)
    assert fragment in str(info.value)


def test_vtrix_from_provider_body_limits_still_apply() -> None:
    flat = VTRIX.from_provider_body(
        {
            "model": "wan22_i2v_flash",
            "input": {"prompt": "p" * 801, "img_url": IMG, "style": "x"},
            "parameters": {"duration": 10},
        }
    )
    with pytest.raises(RequestInvalid) as info:
        VTRIX.parse(flat)
    assert len(info.value.problems) == 3


# ---------------------------------------------------------------------------------------------
# How cost is computed: tier and billable units
# ---------------------------------------------------------------------------------------------

T2V_TIER = {
    "832*480": "480P",
    "480*832": "480P",
    "624*624": "480P",
    "1920*1080": "1080P",
    "1080*1920": "1080P",
    "1440*1440": "1080P",
    "1632*1248": "1080P",
    "1248*1632": "1080P",
}


@pytest.mark.parametrize(("size", "tier"), T2V_TIER.items())
def test_t2v_price_tier_follows_the_documented_size_tiers(size: str, tier: str) -> None:
    request = ok(T2V, size=size)
    assert request.price_tier() == tier
    assert request.billable_units() == 5
    assert request.video_seconds() == 5


@pytest.mark.parametrize(
    ("cls", "resolution", "duration"),
    [
        (FLASH, "480P", 5),
        (FLASH, "720P", 5),
        (VTRIX, "480P", 5),
        (VTRIX, "720P", 5),
        (I2V26, "720P", 5),
        (I2V26, "720P", 10),
        (I2V26, "1080P", 15),
    ],
    ids=_id,
)
def test_i2v_is_priced_per_second_at_its_resolution(
    cls: type[WanRequest], resolution: str, duration: int
) -> None:
    request = ok(cls, resolution=resolution, duration=duration)
    assert request.price_tier() == resolution
    assert request.billable_units() == duration
    assert request.video_seconds() == duration


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_i2i_is_priced_per_output_image(n: int) -> None:
    request = ok(I2I, n=n)
    assert request.price_tier() == "image"
    assert request.billable_units() == n
    assert request.video_seconds() is None


# ---------------------------------------------------------------------------------------------
# The catalog itself
# ---------------------------------------------------------------------------------------------

ENV_VARS = ("WAN_I2V_FLASH_PROVIDER", "I2V_FLASH_PROVIDER", "MULEROUTER_BASE_URL", "VTRIX_BASE_URL")


@pytest.fixture
def settings_factory(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    """Settings from keyword overrides only: no developer environment, no stray ``.env``."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # an empty directory: load_settings finds no .env here

    def make(**kwargs: Any) -> Settings:
        return load_settings(**kwargs)

    return make


# key, model id, provider, request class, create path, poll path for task "t-1",
# result kind, price unit, media fields, max images, input image bounds
EXPECTED_CATALOG = [
    (
        "mulerouter:wan2.2-t2v-plus",
        "wan2.2-t2v-plus",
        ProviderName.MULEROUTER,
        T2V,
        "/vendors/alibaba/v1/wan2.2-t2v-plus/generation",
        "/vendors/alibaba/v1/wan2.2-t2v-plus/generation/t-1",
        ResultKind.VIDEO,
        PriceUnit.SECOND,
        {},
        0,
        None,
    ),
    (
        "mulerouter:wan2.6-i2v",
        "wan2.6-i2v",
        ProviderName.MULEROUTER,
        I2V26,
        "/vendors/alibaba/v1/wan2.6-i2v/generation",
        "/vendors/alibaba/v1/wan2.6-i2v/generation/t-1",
        ResultKind.VIDEO,
        PriceUnit.SECOND,
        {"image": MediaRole.IMAGE, "last_frame": MediaRole.IMAGE, "audio_url": MediaRole.AUDIO_URL},
        1,
        PixelBounds(360, 2000),
    ),
    (
        "mulerouter:wan2.2-i2v-flash",
        "wan2.2-i2v-flash",
        ProviderName.MULEROUTER,
        FLASH,
        "/vendors/alibaba/v1/wan2.2-i2v-flash/generation",
        "/vendors/alibaba/v1/wan2.2-i2v-flash/generation/t-1",
        ResultKind.VIDEO,
        PriceUnit.SECOND,
        {"image": MediaRole.IMAGE},
        1,
        PixelBounds(360, 2000),
    ),
    (
        "vtrix:wan2.2-i2v-flash",
        "wan2.2-i2v-flash",
        ProviderName.VTRIX,
        VTRIX,
        "/model/v1/generation",
        "/model/v1/generation/task/t-1",
        ResultKind.VIDEO,
        PriceUnit.SECOND,
        {"image": MediaRole.IMAGE},
        1,
        PixelBounds(360, 2000),
    ),
    (
        "mulerouter:wan2.5-i2i-preview",
        "wan2.5-i2i-preview",
        ProviderName.MULEROUTER,
        I2I,
        "/vendors/alibaba/v1/wan2.5-i2i-preview/generation",
        "/vendors/alibaba/v1/wan2.5-i2i-preview/generation/t-1",
        ResultKind.IMAGES,
        PriceUnit.IMAGE,
        {"images": MediaRole.IMAGES},
        3,
        PixelBounds(384, 5000),
    ),
]


def test_catalog_has_exactly_five_entries_with_unique_keys() -> None:
    keys = [spec.key for spec in CATALOG]
    assert len(CATALOG) == 5
    assert len(set(keys)) == 5
    assert set(keys) == {row[0] for row in EXPECTED_CATALOG}
    assert MODEL_IDS == ("wan2.2-t2v-plus", "wan2.6-i2v", "wan2.2-i2v-flash", "wan2.5-i2i-preview")


@pytest.mark.parametrize(
    (
        "key",
        "model_id",
        "provider",
        "request_type",
        "create",
        "poll",
        "kind",
        "unit",
        "media",
        "max_images",
        "bounds",
    ),
    EXPECTED_CATALOG,
    ids=[row[0] for row in EXPECTED_CATALOG],
)
def test_catalog_entry(
    key: str,
    model_id: str,
    provider: ProviderName,
    request_type: type[WanRequest],
    create: str,
    poll: str,
    kind: ResultKind,
    unit: PriceUnit,
    media: dict[str, MediaRole],
    max_images: int,
    bounds: PixelBounds | None,
) -> None:
    spec = spec_for(model_id, provider)
    assert isinstance(spec, ModelSpec)
    assert spec.key == key
    assert spec.request_type is request_type
    assert create_path(spec) == create
    assert poll_path(spec, "t-1") == poll
    assert spec.result_kind is kind
    assert request_type.result_kind is kind
    assert spec.price_unit is unit
    assert request_type.media_fields() == media
    assert spec.max_images == max_images
    assert spec.image_bounds == bounds
    assert spec.title
    assert spec.summary
    assert spec.parse(MINIMAL[request_type]) == request_type.parse(MINIMAL[request_type])


def test_image_bounds_match_the_docs() -> None:
    # "[360, 2000] pixels" for the video models, "[384, 5000] pixels" for image edit.
    assert (VIDEO_INPUT_BOUNDS.min_side, VIDEO_INPUT_BOUNDS.max_side) == (360, 2000)
    assert (I2I_INPUT_BOUNDS.min_side, I2I_INPUT_BOUNDS.max_side) == (384, 5000)


def test_spec_parse_refuses_like_the_request_type() -> None:
    spec = spec_for("wan2.2-t2v-plus", ProviderName.MULEROUTER)
    with pytest.raises(RequestInvalid, match="800"):
        spec.parse({"prompt": "p" * 801})


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_resolve_picks_mulerouter_by_default(settings_factory: Any, model_id: str) -> None:
    spec = resolve(model_id, settings_factory())
    assert spec.provider is ProviderName.MULEROUTER
    assert spec.model_id == model_id


@pytest.mark.parametrize(
    ("model_id", "provider"),
    [
        ("wan2.2-i2v-flash", ProviderName.VTRIX),
        ("wan2.2-t2v-plus", ProviderName.MULEROUTER),
        ("wan2.6-i2v", ProviderName.MULEROUTER),
        ("wan2.5-i2i-preview", ProviderName.MULEROUTER),
    ],
)
def test_resolve_with_vtrix_for_flash(
    settings_factory: Any, model_id: str, provider: ProviderName
) -> None:
    spec = resolve(model_id, settings_factory(i2v_flash_provider="vtrix"))
    assert spec.provider is provider
    assert spec.model_id == model_id


def test_resolve_with_vtrix_from_the_environment(
    settings_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAN_I2V_FLASH_PROVIDER", "vtrix")
    spec = resolve("wan2.2-i2v-flash", settings_factory())
    assert spec.key == "vtrix:wan2.2-i2v-flash"
    assert spec.request_type is VTRIX


@pytest.mark.parametrize("model_id", ["wan2.2-i2v-plus", "wan22_i2v_flash", "", "WAN2.6-I2V"])
def test_resolve_unknown_model(settings_factory: Any, model_id: str) -> None:
    with pytest.raises(UnknownModel) as info:
        resolve(model_id, settings_factory())
    for known in MODEL_IDS:
        assert known in str(info.value)


@pytest.mark.parametrize(
    ("model_id", "provider"),
    [("wan2.6-i2v", ProviderName.VTRIX), ("nope", ProviderName.MULEROUTER)],
)
def test_spec_for_unknown_pair(model_id: str, provider: ProviderName) -> None:
    with pytest.raises(UnknownModel, match=model_id):
        spec_for(model_id, provider)


# --- data: URIs: made once by data_uri(), checked without a regular expression ---------------


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 100, 3 * 1024 + 1])
@pytest.mark.parametrize("mime", DATA_URI_MIMES)
def test_data_uri_is_the_base64_form_and_passes_its_own_check(mime: str, size: int) -> None:
    raw = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    uri = data_uri(mime, raw)
    assert uri == f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"
    assert is_data_uri(uri)
    assert ok(I2I, images=[uri]).images == [uri]


def test_data_uri_refuses_a_type_the_models_do_not_take() -> None:
    with pytest.raises(ValueError, match="image/gif"):
        data_uri("image/gif", b"GIF89a")


@pytest.mark.parametrize(
    "value",
    [
        "data:image/png;base64,",  # nothing in it
        "data:image/png;base64,AAA",  # not a multiple of four
        "data:image/png;base64,AAAAA",
        "data:image/png;base64,A===",  # three padding characters
        "data:image/png;base64,A=AA",  # padding in the middle
        "data:image/png;base64,AA=A",
        "data:image/png;base64,A=A=",
        "data:image/png;base64,AA A",  # not the alphabet
        "data:image/png;base64,AA\nA",
        "data:image/png;base64,AA-_",  # the URL-safe alphabet
        'data:image/png;base64,AA"A',
        "data:image/png;base64,AA\\A",
        "data:image/png;base64,AAé=",  # not ASCII
        "data:image/png;base64,:;,=",  # the prefix's own characters
        "data:image/png;base64,AA;,",
        "data:image/png;base64;base64,AAAA",
        "data:image/png;base64,,AAA",
        "data:image/png,AAAA",
        "data:image/PNG;base64,AAAA",
        " data:image/png;base64,AAAA",
        "data:image/jpg;base64,AAAA",
        "data:image/gif;base64,R0lGODlh",
    ],
    ids=repr,
)
def test_a_malformed_data_uri_is_still_refused(value: str) -> None:
    assert not is_data_uri(value)
    message = only_problem(I2I, images=[value])
    assert message == "The images #1 must be an attached image (JPEG, PNG, BMP or WEBP)."


def test_a_long_malformed_data_uri_is_refused_without_echo() -> None:
    payload = base64.b64encode(bytes(3 * 200_000)).decode("ascii")
    bad = payload[:1000] + "!" + payload[1001:]
    assert is_data_uri(f"data:image/png;base64,{payload}")
    err = refused(I2I, images=[f"data:image/png;base64,{bad}"])
    assert payload[:40] not in str(err)
