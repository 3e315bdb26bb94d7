"""Command-line options derived from the catalog's request models.

Why this module exists: a model's fields, defaults and limits are declared once, in
:mod:`bot.catalog`. ``generate`` builds its flags from them and ``models`` prints them, so the
terminal can never drift from what the request models accept.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from bot.catalog import MediaRole, WanRequest


@dataclass(frozen=True, slots=True)
class OptionInfo:
    """One request field as a command-line option."""

    field: str
    flag: str
    kind: str  # "text", "int", "bool", "choice", "image", "images", "url"
    required: bool
    default: Any
    choices: tuple[Any, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    max_items: int | None = None
    help: str = ""

    def limits(self) -> str:
        """The field's rules in words, e.g. "at most 800 characters"."""
        parts: list[str] = []
        if self.required:
            parts.append("required")
        if self.choices:
            parts.append("one of " + ", ".join(str(c) for c in self.choices))
        if self.max_length is not None:
            parts.append(f"at most {self.max_length} characters")
        if self.minimum is not None and self.maximum is not None:
            parts.append(f"{self.minimum}..{self.maximum}")
        if self.max_items is not None:
            parts.append(f"up to {self.max_items} (repeat the flag)")
        if self.default is not None and not self.required:
            default = self.default
            if isinstance(default, bool):
                default = "on" if default else "off"
            parts.append(f"default {default}")
        if self.help:
            parts.append(self.help)
        return "; ".join(parts)


def _flatten(prop: dict[str, Any]) -> dict[str, Any]:
    """Merge ``anyOf: [X, null]`` into X so optional fields read like required ones."""
    for branch in prop.get("anyOf", ()):
        if branch.get("type") != "null":
            return {**branch, **{k: v for k, v in prop.items() if k != "anyOf"}}
    return prop


def describe_options(request_type: type[WanRequest]) -> list[OptionInfo]:
    """Every field of ``request_type`` as an :class:`OptionInfo`, in declaration order."""
    schema = request_type.model_json_schema()
    required = set(schema.get("required", ()))
    media = request_type.media_fields()
    options: list[OptionInfo] = []
    for name, raw in schema["properties"].items():
        prop = _flatten(raw)
        info = request_type.model_fields[name]
        role = media.get(name)
        if role is MediaRole.IMAGES:
            kind, flag = "images", "--image"
        elif role is MediaRole.IMAGE:
            kind, flag = "image", "--" + name.replace("_", "-")
        elif role is MediaRole.AUDIO_URL:
            kind, flag = "url", "--audio-url"
        elif "enum" in prop or "const" in prop:
            kind, flag = "choice", "--" + name.replace("_", "-")
        elif prop.get("type") == "boolean":
            kind, flag = "bool", "--" + name.replace("_", "-")
        elif prop.get("type") == "integer":
            kind, flag = "int", "--" + name.replace("_", "-")
        else:
            kind, flag = "text", "--" + name.replace("_", "-")
        choices = tuple(prop.get("enum") or ((prop["const"],) if "const" in prop else ()))
        options.append(
            OptionInfo(
                field=name,
                flag=flag,
                kind=kind,
                required=name in required,
                default=None if info.is_required() else info.default,
                choices=choices,
                minimum=prop.get("minimum"),
                maximum=prop.get("maximum"),
                max_length=prop.get("maxLength"),
                max_items=prop.get("maxItems"),
                help=info.description or "",
            )
        )
    return options


def add_request_arguments(
    parser: argparse.ArgumentParser, request_type: type[WanRequest]
) -> list[OptionInfo]:
    """Add one flag per request field. Unset flags stay ``None`` so model defaults apply."""
    options = describe_options(request_type)
    for option in options:
        common: dict[str, Any] = {"dest": option.field, "default": None, "help": option.limits()}
        if option.kind == "bool":
            parser.add_argument(option.flag, action=argparse.BooleanOptionalAction, **common)
        elif option.kind == "images":
            parser.add_argument(option.flag, action="append", metavar="PATH", **common)
        elif option.kind == "image":
            parser.add_argument(option.flag, metavar="PATH", **common)
        elif option.kind == "choice":
            kind = type(option.choices[0]) if option.choices else str
            parser.add_argument(option.flag, type=kind, metavar="VALUE", **common)
        elif option.kind == "int":
            parser.add_argument(option.flag, type=int, metavar="N", **common)
        elif option.kind == "url":
            parser.add_argument(option.flag, metavar="URL", **common)
        else:
            parser.add_argument(option.flag, metavar="TEXT", **common)
    return options
