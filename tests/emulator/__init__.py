"""A local emulator of Discord's HTTP API v10, gateway and CDN for end-to-end bot tests.

``from tests.emulator import DiscordEmulator, EmulatorConfig, BotProcess``. Names load lazily so
that ``python -m tests.emulator.launch`` (run inside the bot process) imports only discord.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.emulator.config import EmulatorConfig
    from tests.emulator.emulator import DiscordEmulator
    from tests.emulator.handles import InteractionHandle
    from tests.emulator.interaction_builder import InteractionRefused
    from tests.emulator.messages import StoredMessage
    from tests.emulator.process import BotProcess

_EXPORTS = {
    "DiscordEmulator": "tests.emulator.emulator",
    "EmulatorConfig": "tests.emulator.config",
    "InteractionHandle": "tests.emulator.handles",
    "InteractionRefused": "tests.emulator.interaction_builder",
    "StoredMessage": "tests.emulator.messages",
    "BotProcess": "tests.emulator.process",
}

__all__ = [
    "BotProcess",
    "DiscordEmulator",
    "EmulatorConfig",
    "InteractionHandle",
    "InteractionRefused",
    "StoredMessage",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'tests.emulator' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
