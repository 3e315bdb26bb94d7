"""One answer for every error: the wording members get from commands, checks and buttons."""

from __future__ import annotations

from typing import Any

import pytest
from discord import app_commands

from bot.discord_ui.errors import UserFacingError
from bot.discord_ui.tree import GENERIC_FAILURE, message_for, permission_names


def invoke_error(original: Exception) -> app_commands.CommandInvokeError:
    command: Any = app_commands.Command(
        name="x", description="x", callback=lambda interaction: None
    )
    return app_commands.CommandInvokeError(command, original)


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (UserFacingError("Attach a smaller file."), "Attach a smaller file."),
        (
            app_commands.MissingPermissions(["manage_guild"]),
            "This needs the Manage Server permission.",
        ),
        (
            app_commands.BotMissingPermissions(["attach_files", "embed_links"]),
            "I'm missing the Attach Files, Embed Links permission here. Ask the server staff.",
        ),
        (
            app_commands.NoPrivateMessage(),
            "This command works in a server channel, not in direct messages.",
        ),
        (app_commands.CheckFailure(), "You can't use this command here."),
        (app_commands.CheckFailure("Not in this channel."), "Not in this channel."),
        (RuntimeError("database is locked at /data/secret"), GENERIC_FAILURE),
    ],
)
def test_message_for(error: Exception, text: str) -> None:
    assert message_for(error) == text


def test_a_command_failure_is_answered_by_what_it_wraps() -> None:
    assert message_for(invoke_error(UserFacingError("Rephrase it."))) == "Rephrase it."
    # Anything unexpected says only that it failed and that nothing was charged.
    generic = message_for(invoke_error(KeyError("DISCORD_TOKEN=abc")))
    assert generic == GENERIC_FAILURE
    assert "abc" not in generic
    assert "nothing was charged" in generic


def test_permission_names_use_discords_interface_names() -> None:
    assert permission_names(["manage_guild", "view_channel", "read_message_history"]) == (
        "Manage Server, View Channel, Read Message History"
    )
