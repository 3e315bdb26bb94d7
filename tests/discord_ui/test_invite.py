"""The README's invite link asks for exactly the permissions the bot needs."""

from __future__ import annotations

from pathlib import Path

from bot.discord_ui.client import REQUIRED_PERMISSIONS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_invite_link_carries_the_required_permission_integer() -> None:
    text = README.read_text()
    assert f"permissions={REQUIRED_PERMISSIONS.value}" in text
    assert f"permission integer `{REQUIRED_PERMISSIONS.value}`" in text
    assert REQUIRED_PERMISSIONS.read_message_history  # the outbox reads the channel back
