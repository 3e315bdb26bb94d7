"""Standard Webhooks verification: what passes, what is refused, and that the secret stays put."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr

from bot.config import ConfigError
from bot.webhooks.signatures import BadSignature, SignatureVerifier
from tests.webhooks.support import OTHER_SECRET, SECRET, signed

BODY = b'{"id":"evt_1","type":"task.succeeded"}'


@pytest.fixture
def verifier() -> SignatureVerifier:
    return SignatureVerifier(SecretStr(SECRET), setting="MULEROUTER_WEBHOOK_SECRET")


def test_a_signed_fresh_body_passes_and_gives_its_message_id(verifier: SignatureVerifier) -> None:
    headers = signed(BODY, ident="msg_1")
    assert verifier.verify(BODY, headers) == "msg_1"
    # Header names are case-insensitive; a rotated secret's extra signature is ignored.
    other = signed(BODY, ident="msg_1", secret=OTHER_SECRET)["webhook-signature"]
    shouted = {key.upper(): value for key, value in headers.items()}
    shouted["WEBHOOK-SIGNATURE"] = f"{other} {headers['webhook-signature']}"
    assert verifier.verify(BODY, shouted) == "msg_1"


def test_the_secret_without_its_prefix_works_too() -> None:
    bare = SignatureVerifier(SecretStr(SECRET.removeprefix("whsec_")), setting="X")
    assert bare.verify(BODY, signed(BODY, ident="m")) == "m"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"webhook-signature": None}, "Missing"),
        ({"webhook-id": "msg_2"}, "No matching signature"),
        ({"webhook-timestamp": -400}, "too old"),
        ({"webhook-timestamp": 400}, "too new"),
        ({"webhook-timestamp": "yesterday"}, "Invalid"),
        ({"webhook-signature": "v2,abc"}, "No matching signature"),
        ({"webhook-signature": "nonsense"}, "malformed"),
        ({"webhook-signature": "v1,***"}, "No matching signature|malformed"),
    ],
)
def test_refusals(
    verifier: SignatureVerifier, change: dict[str, str | int | None], why: str
) -> None:
    headers: dict[str, str] = signed(BODY, ident="msg_1")
    for key, value in change.items():
        if value is None:
            headers.pop(key)
        elif isinstance(value, int):  # seconds from now, taken when the test runs
            headers[key] = str(int(time.time()) + value)
        else:
            headers[key] = value
    with pytest.raises(BadSignature, match=why):
        verifier.verify(BODY, headers)


def test_another_secret_or_another_body_is_refused(verifier: SignatureVerifier) -> None:
    with pytest.raises(BadSignature):
        verifier.verify(BODY, signed(BODY, ident="m", secret=OTHER_SECRET))
    with pytest.raises(BadSignature):
        verifier.verify(BODY + b" ", signed(BODY, ident="m"))
    with pytest.raises(BadSignature):
        verifier.verify(b"\xff\xfe", signed(BODY, ident="m"))


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_abcde", "   "])
def test_an_unusable_secret_is_one_line_naming_the_setting(secret: str) -> None:
    with pytest.raises(ConfigError) as info:
        SignatureVerifier(SecretStr(secret), setting="MULEROUTER_WEBHOOK_SECRET")
    message = str(info.value)
    assert message.startswith("MULEROUTER_WEBHOOK_SECRET is not a usable webhook secret")
    assert "\n" not in message
    assert info.value.__cause__ is None


def test_the_secret_never_shows(verifier: SignatureVerifier) -> None:
    assert SECRET.removeprefix("whsec_") not in repr(verifier)
    with pytest.raises(BadSignature) as info:
        verifier.verify(BODY, signed(BODY, ident="m", secret=OTHER_SECRET))
    assert SECRET.removeprefix("whsec_") not in str(info.value)
