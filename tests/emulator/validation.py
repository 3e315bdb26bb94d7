"""Discord's payload limits: message content, embeds, components, modals, choices, commands.

Why this module exists: Discord rejects an over-long message with 400 / 50035 and an ``errors``
tree naming the field; each checker returns ``{path: (code, message)}`` problems so callers can
prefix paths (``data.`` for interaction callbacks) and answer exactly like Discord.
"""

from __future__ import annotations

import re
from typing import Any

Problems = dict[tuple[str | int, ...], tuple[str, str]]

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TOTAL_MAX = 6000
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
CUSTOM_ID_MAX = 100
ROWS_MAX = 5
ROW_ITEMS_MAX = 5
V2_COMPONENTS_MAX = 40
COMPONENTS_V2_FLAG = 1 << 15

_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")
# Discord's locales (the keys of name_localizations / description_localizations).
LOCALES = frozenset(
    {
        "id",
        "da",
        "de",
        "en-GB",
        "en-US",
        "es-ES",
        "es-419",
        "fr",
        "hr",
        "it",
        "lt",
        "hu",
        "nl",
        "no",
        "pl",
        "pt-BR",
        "ro",
        "fi",
        "sv-SE",
        "vi",
        "tr",
        "cs",
        "el",
        "bg",
        "ru",
        "uk",
        "hi",
        "th",
        "zh-CN",
        "ja",
        "zh-TW",
        "ko",
    }
)


def _max_len(value: int) -> tuple[str, str]:
    return "BASE_TYPE_MAX_LENGTH", f"Must be {value} or fewer in length."


def _between(low: int, high: int) -> tuple[str, str]:
    return "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length."


def _prefixed(prefix: tuple[str | int, ...], problems: Problems) -> Problems:
    return {prefix + path: problem for path, problem in problems.items()}


def message_problems(payload: dict[str, Any]) -> Problems:
    """Content and embed limits of a message create or edit payload."""
    problems: Problems = {}
    content = payload.get("content")
    if isinstance(content, str) and len(content) > CONTENT_MAX:
        problems[("content",)] = _max_len(CONTENT_MAX)
    embeds = payload.get("embeds")
    if isinstance(embeds, list):
        if len(embeds) > EMBEDS_MAX:
            problems[("embeds",)] = _max_len(EMBEDS_MAX)
        total = 0
        for index, embed in enumerate(embeds):
            if not isinstance(embed, dict):
                continue
            size, embed_problems = _embed_problems(embed)
            total += size
            problems.update(_prefixed(("embeds", index), embed_problems))
        if total > EMBED_TOTAL_MAX and ("embeds",) not in problems:
            problems[("embeds",)] = (
                "MAX_EMBED_SIZE_EXCEEDED",
                f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX}",
            )
    return problems


def _embed_problems(embed: dict[str, Any]) -> tuple[int, Problems]:
    problems: Problems = {}
    size = 0

    def text(path: tuple[str | int, ...], value: Any, limit: int) -> None:
        nonlocal size
        if isinstance(value, str):
            size += len(value)
            if len(value) > limit:
                problems[path] = _max_len(limit)

    text(("title",), embed.get("title"), EMBED_TITLE_MAX)
    text(("description",), embed.get("description"), EMBED_DESCRIPTION_MAX)
    footer = embed.get("footer")
    if isinstance(footer, dict):
        text(("footer", "text"), footer.get("text"), EMBED_FOOTER_MAX)
    author = embed.get("author")
    if isinstance(author, dict):
        text(("author", "name"), author.get("name"), EMBED_AUTHOR_MAX)
    fields = embed.get("fields") or []
    if len(fields) > EMBED_FIELDS_MAX:
        problems[("fields",)] = _max_len(EMBED_FIELDS_MAX)
    for index, fld in enumerate(fields):
        if not isinstance(fld, dict):
            continue
        text(("fields", index, "name"), fld.get("name"), EMBED_FIELD_NAME_MAX)
        text(("fields", index, "value"), fld.get("value"), EMBED_FIELD_VALUE_MAX)
        for key in ("name", "value"):
            if not fld.get(key):
                problems[("fields", index, key)] = ("BASE_TYPE_REQUIRED", "This field is required")
    return size, problems


def components_problems(components: Any, flags: int = 0) -> Problems:
    """Rows, items per row, custom_id lengths and uniqueness of a message's components."""
    problems: Problems = {}
    if not isinstance(components, list):
        return problems
    seen: set[str] = set()
    if flags & COMPONENTS_V2_FLAG:
        count = _walk_v2(components, ("components",), problems, seen)
        if count > V2_COMPONENTS_MAX:
            problems[("components",)] = _max_len(V2_COMPONENTS_MAX)
        return problems
    if len(components) > ROWS_MAX:
        problems[("components",)] = _max_len(ROWS_MAX)
    for index, row in enumerate(components):
        path: tuple[str | int, ...] = ("components", index)
        if not isinstance(row, dict) or row.get("type") != 1:
            problems[(*path, "type")] = (
                "UNION_TYPE_CHOICES",
                'Value of field "type" must be one of (1,).',
            )
            continue
        _check_row(row, path, problems, seen)
    return problems


def _check_row(
    row: dict[str, Any], path: tuple[str | int, ...], problems: Problems, seen: set[str]
) -> None:
    items = row.get("components") or []
    if not 1 <= len(items) <= ROW_ITEMS_MAX:
        problems[(*path, "components")] = _between(1, ROW_ITEMS_MAX)
    selects = [i for i in items if isinstance(i, dict) and i.get("type") in (3, 5, 6, 7, 8)]
    if selects and len(items) > 1:
        problems[(*path, "components")] = (
            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
            "The specified component exceeds the maximum width",
        )
    for index, item in enumerate(items):
        if isinstance(item, dict):
            _check_item(item, (*path, "components", index), problems, seen)


def _check_item(
    item: dict[str, Any], path: tuple[str | int, ...], problems: Problems, seen: set[str]
) -> None:
    kind = item.get("type")
    if kind == 2:
        label = item.get("label")
        if isinstance(label, str) and len(label) > 80:
            problems[(*path, "label")] = _max_len(80)
        if item.get("style") == 5:
            if not item.get("url"):
                problems[(*path, "url")] = ("BASE_TYPE_REQUIRED", "This field is required")
            return
        if item.get("style") == 6:
            return
    if kind in (2, 3, 4, 5, 6, 7, 8):
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= CUSTOM_ID_MAX:
            problems[(*path, "custom_id")] = _between(1, CUSTOM_ID_MAX)
        elif custom_id in seen:
            problems[(*path, "custom_id")] = (
                "COMPONENT_CUSTOM_ID_DUPLICATED",
                "Component custom id cannot be duplicated",
            )
        else:
            seen.add(custom_id)
    if kind == 3:
        options = item.get("options") or []
        if not 1 <= len(options) <= 25:
            problems[(*path, "options")] = _between(1, 25)


def _walk_v2(
    items: list[Any], path: tuple[str | int, ...], problems: Problems, seen: set[str]
) -> int:
    count = 0
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        count += 1
        here = (*path, index)
        if item.get("type") == 1:
            _check_row(item, here, problems, seen)
            count += len(item.get("components") or [])
            continue
        _check_item(item, here, problems, seen)
        for key in ("components",):
            if isinstance(item.get(key), list):
                count += _walk_v2(item[key], (*here, key), problems, seen)
        for key in ("accessory", "component"):
            if isinstance(item.get(key), dict):
                count += 1
                _check_item(item[key], (*here, key), problems, seen)
    return count


def modal_problems(data: dict[str, Any]) -> Problems:
    problems: Problems = {}
    custom_id = data.get("custom_id")
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= CUSTOM_ID_MAX:
        problems[("custom_id",)] = _between(1, CUSTOM_ID_MAX)
    title = data.get("title")
    if not isinstance(title, str) or not 1 <= len(title) <= 45:
        problems[("title",)] = _between(1, 45)
    rows = data.get("components") or []
    if not 1 <= len(rows) <= 5:
        problems[("components",)] = _between(1, 5)
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            continue
        path: tuple[str | int, ...] = ("components", index)
        if row.get("type") == 1:
            items = row.get("components") or []
            if len(items) != 1:
                problems[(*path, "components")] = _between(1, 1)
            for sub, item in enumerate(items):
                _check_text_input(item, (*path, "components", sub), problems, needs_label=True)
        elif row.get("type") == 18:
            label = row.get("label")
            if not isinstance(label, str) or not 1 <= len(label) <= 45:
                problems[(*path, "label")] = _between(1, 45)
            inner = row.get("component")
            if isinstance(inner, dict) and inner.get("type") == 4:
                _check_text_input(inner, (*path, "component"), problems, needs_label=False)
    return problems


def _check_text_input(
    item: Any, path: tuple[str | int, ...], problems: Problems, *, needs_label: bool
) -> None:
    if not isinstance(item, dict):
        return
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= CUSTOM_ID_MAX:
        problems[(*path, "custom_id")] = _between(1, CUSTOM_ID_MAX)
    label = item.get("label")
    if needs_label and (not isinstance(label, str) or not 1 <= len(label) <= 45):
        problems[(*path, "label")] = _between(1, 45)
    for key, limit in (("value", 4000), ("placeholder", 100)):
        value = item.get(key)
        if isinstance(value, str) and len(value) > limit:
            problems[(*path, key)] = _max_len(limit)


def choices_problems(data: dict[str, Any]) -> Problems:
    problems: Problems = {}
    choices = data.get("choices")
    if not isinstance(choices, list):
        return {("choices",): ("BASE_TYPE_REQUIRED", "This field is required")}
    if len(choices) > 25:
        problems[("choices",)] = _max_len(25)
    for index, choice in enumerate(choices):
        name = choice.get("name") if isinstance(choice, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            problems[("choices", index, "name")] = _between(1, 100)
        value = choice.get("value") if isinstance(choice, dict) else None
        if isinstance(value, str) and len(value) > 100:
            problems[("choices", index, "value")] = _max_len(100)
    return problems


def command_problems(commands: Any) -> Problems:
    """What Discord checks when a bot overwrites its commands."""
    problems: Problems = {}
    if not isinstance(commands, list):
        return {(): ("BASE_TYPE_ARRAY", "Must be an array.")}
    chat_input = [c for c in commands if isinstance(c, dict) and c.get("type", 1) == 1]
    if len(chat_input) > 100:
        problems[()] = _max_len(100)
    names: set[tuple[str, int]] = set()
    for index, command in enumerate(commands):
        if not isinstance(command, dict):
            problems[(index,)] = (
                "DICT_TYPE_CONVERT",
                "Only dictionaries may be used in a DictType",
            )
            continue
        kind = command.get("type", 1)
        name = command.get("name")
        key = (str(name), int(kind))
        if key in names:
            problems[(index, "name")] = (
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique: {name}",
            )
        names.add(key)
        problems.update(_prefixed((index,), _command_problems(command, kind)))
    return problems


def _command_problems(command: dict[str, Any], kind: int) -> Problems:
    problems: Problems = {}
    name = command.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        problems[("name",)] = _between(1, 32)
    elif kind == 1 and (not _COMMAND_NAME.match(name) or name != name.lower()):
        problems[("name",)] = (
            "APPLICATION_COMMAND_INVALID_NAME",
            f"Command name is invalid: {name}",
        )
    description = command.get("description", "")
    if kind == 1 and (not isinstance(description, str) or not 1 <= len(description) <= 100):
        problems[("description",)] = _between(1, 100)
    problems.update(_localization_problems(command, named=kind == 1))
    options = command.get("options") or []
    problems.update(_options_problems(options, ("options",)))
    return problems


def _localization_problems(item: dict[str, Any], *, named: bool = False) -> Problems:
    """``name_localizations`` / ``description_localizations`` as Discord checks them: known
    locales only; a localised command or option name follows the name rules (1-32, lowercase,
    no spaces), a choice name 1-100; a description 1-100 characters."""
    problems: Problems = {}
    for field, low, high in (
        ("name_localizations", 1, 32 if named else 100),
        ("description_localizations", 1, 100),
    ):
        values = item.get(field)
        if values is None:
            continue
        if not isinstance(values, dict):
            problems[(field,)] = (
                "DICT_TYPE_CONVERT",
                "Only dictionaries may be used in a DictType",
            )
            continue
        for locale, text in values.items():
            if locale not in LOCALES:
                problems[(field, locale)] = (
                    "BASE_TYPE_CHOICES",
                    f"Value must be one of {sorted(LOCALES)}.",
                )
            elif not isinstance(text, str) or not low <= len(text) <= high:
                problems[(field, locale)] = _between(low, high)
            elif (
                named
                and field == "name_localizations"
                and (not _COMMAND_NAME.match(text) or text != text.lower())
            ):
                problems[(field, locale)] = (
                    "APPLICATION_COMMAND_INVALID_NAME",
                    f"Command name is invalid: {text}",
                )
    return problems


def localized(command: dict[str, Any], locale: str) -> dict[str, Any]:
    """``command`` as a client set to ``locale`` shows it: every name, description and choice
    name replaced by its localisation where there is one (Discord falls back to the default)."""

    def one(item: dict[str, Any]) -> dict[str, Any]:
        shown = dict(item)
        for field in ("name", "description"):
            local = (item.get(f"{field}_localizations") or {}).get(locale)
            if local:
                shown[field] = local
        if item.get("options"):
            shown["options"] = [one(option) for option in item["options"]]
        if item.get("choices"):
            shown["choices"] = [one(choice) for choice in item["choices"]]
        return shown

    return one(command)


def _options_problems(options: list[Any], path: tuple[str | int, ...]) -> Problems:
    problems: Problems = {}
    if len(options) > 25:
        problems[path] = _max_len(25)
    seen_optional = False
    names: set[str] = set()
    for index, option in enumerate(options):
        if not isinstance(option, dict):
            continue
        here = (*path, index)
        name = option.get("name")
        if not isinstance(name, str) or not _COMMAND_NAME.match(name) or name != name.lower():
            problems[(*here, "name")] = (
                "APPLICATION_COMMAND_INVALID_NAME",
                f"Command name is invalid: {name}",
            )
        elif name in names:
            problems[(*here, "name")] = (
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option names must be unique",
            )
        names.add(str(name))
        description = option.get("description")
        if not isinstance(description, str) or not 1 <= len(description) <= 100:
            problems[(*here, "description")] = _between(1, 100)
        problems.update(_prefixed(here, _localization_problems(option, named=True)))
        kind = option.get("type")
        if kind in (1, 2):
            problems.update(_options_problems(option.get("options") or [], (*here, "options")))
            continue
        if option.get("required"):
            if seen_optional:
                problems[(*here, "required")] = (
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = option.get("choices") or []
        if len(choices) > 25:
            problems[(*here, "choices")] = _max_len(25)
        for number, choice in enumerate(choices):
            if isinstance(choice, dict):
                problems.update(
                    _prefixed((*here, "choices", number), _localization_problems(choice))
                )
        if choices and option.get("autocomplete"):
            problems[(*here, "autocomplete")] = (
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_AND_CHOICES",
                "Autocomplete cannot be enabled with choices",
            )
    return problems
