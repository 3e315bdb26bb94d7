"""The emulator checks and keeps command localisations as Discord does, and shows a command as
a client in a given locale would."""

from __future__ import annotations

from typing import Any

from tests.emulator.validation import command_problems, localized


def _command(**extra: Any) -> dict[str, Any]:
    return {
        "name": "usage",
        "description": "Generation usage and spend",
        "type": 1,
        "options": [
            {
                "type": 3,
                "name": "period",
                "description": "Which period",
                "description_localizations": {"zh-CN": "统计周期"},
                "choices": [
                    {"name": "today", "value": "today", "name_localizations": {"zh-CN": "今天"}}
                ],
            }
        ],
        **extra,
    }


def test_valid_localisations_pass_and_are_shown_per_locale() -> None:
    command = _command(
        description_localizations={"zh-CN": "生成用量与花费"}, name_localizations={"zh-CN": "用量"}
    )
    assert command_problems([command]) == {}
    zh = localized(command, "zh-CN")
    assert (zh["name"], zh["description"]) == ("用量", "生成用量与花费")
    assert zh["options"][0]["description"] == "统计周期"
    assert zh["options"][0]["choices"][0] == {
        "name": "今天",
        "value": "today",
        "name_localizations": {"zh-CN": "今天"},
    }
    assert localized(command, "fr")["description"] == "Generation usage and spend"


def test_unknown_locales_bad_names_and_long_descriptions_are_refused() -> None:
    problems = command_problems(
        [
            _command(
                name_localizations={"zh-CN": "用 量", "xx": "usage"},
                description_localizations={"zh-CN": "长" * 101},
            )
        ]
    )
    assert problems[(0, "name_localizations", "zh-CN")][0] == "APPLICATION_COMMAND_INVALID_NAME"
    assert problems[(0, "name_localizations", "xx")][0] == "BASE_TYPE_CHOICES"
    assert problems[(0, "description_localizations", "zh-CN")][0] == "BASE_TYPE_BAD_LENGTH"
