"""Playing a user: slash commands, autocomplete, clicks, modal submits, plain messages.

Why this module exists: each action builds the INTERACTION_CREATE a Discord client would send
(refusing what a client would not allow), respects human timing (no click before the bot's View
can be registered), dispatches it on the bot's session and returns a handle to await.
"""

# Waiting helpers take a ``timeout`` in seconds, as the tests call them.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
from typing import Any

from tests.emulator.handles import InteractionHandle
from tests.emulator.interaction_builder import (
    InteractionBuilder,
    InteractionRefused,
    modal_submission,
)
from tests.emulator.interaction_state import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL,
    MODAL_SUBMIT,
    InteractionRecord,
)
from tests.emulator.messages import StoredMessage
from tests.emulator.models import Channel, Guild, User
from tests.emulator.recorder import UploadedFile
from tests.emulator.rules import Rules
from tests.emulator.snowflakes import shard_of
from tests.emulator.state import EmulatorState

_SELECTS = (3, 5, 6, 7, 8)


class UserActions:
    """Mixed into ``DiscordEmulator``; needs its ``state``, lookups and ``handles``."""

    state: EmulatorState
    handles: list[InteractionHandle]
    _builder: InteractionBuilder

    def user(self, ref: User | int | str) -> User:
        raise NotImplementedError

    def channel(self, ref: Channel | str | int) -> Channel:
        raise NotImplementedError

    def message(self, message_id: int | str) -> StoredMessage:
        raise NotImplementedError

    @property
    def rules(self) -> Rules:
        return self.state.rules

    def attachment_bytes(self, attachment: Any) -> bytes:
        """The bytes of an attachment (its dict, id or URL), as uploaded."""
        return self.state.cdn.bytes_of(attachment)

    # -- playing a user ------------------------------------------------------------------------
    async def slash(
        self,
        user: User | str | int,
        channel: Channel | str | int,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        attachments: dict[str, Any] | None = None,
        locale: str = "en-US",
        app_permissions: int | None = None,
        validate: bool = True,
    ) -> InteractionHandle:
        """``user`` runs ``/command`` (``"group sub"`` for subcommands) in ``channel``.
        Option values are typed from the registered schema; users, channels and roles may be
        given as objects or names, attachments as dicts from ``cdn.add`` (or ``(name, bytes)``).
        Raises ``InteractionRefused`` where a Discord client would not let the user."""
        who = self.user(user)
        chan = self.channel(channel)
        guild = self._guild_of(chan)
        values = {**(options or {}), **(attachments or {})}
        data = self._builder.command_data(command, guild, chan, who, values, validate=validate)
        record = self._builder.new_record(
            APPLICATION_COMMAND,
            who,
            chan,
            guild,
            data=data,
            locale=locale,
            app_permissions=app_permissions,
        )
        return await self._deliver(record)

    async def autocomplete(
        self,
        user: User | str | int,
        channel: Channel | str | int,
        command: str,
        options: dict[str, Any],
        focused: str,
        *,
        timeout: float = 5.0,
        locale: str = "en-US",
    ) -> list[dict[str, Any]]:
        """``user`` types into option ``focused`` of ``/command``: returns the bot's choices."""
        who = self.user(user)
        chan = self.channel(channel)
        guild = self._guild_of(chan)
        if focused not in options:
            options = {**options, focused: ""}
        data = self._builder.command_data(
            command, guild, chan, who, options, validate=False, focused=focused
        )
        record = self._builder.new_record(AUTOCOMPLETE, who, chan, guild, data=data, locale=locale)
        handle = await self._deliver(record)
        response = await handle.response(timeout)
        return list((response.data or {}).get("choices", []))

    async def click(
        self,
        user: User | str | int,
        message: StoredMessage | int,
        custom_id: str,
        *,
        values: list[Any] | None = None,
        locale: str = "en-US",
        validate: bool = True,
    ) -> InteractionHandle:
        """``user`` clicks the button (or picks ``values`` in the select) ``custom_id`` of
        ``message``. Waits until ``rules.min_click_delay`` has passed since the message was
        created or last edited: discord.py registers a View only when its HTTP answer
        arrives, and no human clicks faster."""
        who = self.user(user)
        target = message if isinstance(message, StoredMessage) else self.message(message)
        for _ in range(20):  # an edit during the wait restarts it (a new View may come with it)
            seen = target.updated_at
            await self._human_delay(seen)
            target = self.message(target.id)
            if target.updated_at == seen:
                break
        if target.deleted:
            raise InteractionRefused("the message was deleted")
        component = target.component(custom_id)
        if validate:
            if component is None:
                raise InteractionRefused(f"no component {custom_id!r} on {target!r}")
            if component.get("disabled"):
                raise InteractionRefused(f"component {custom_id!r} is disabled")
            self._check_can_see(who, target)
        kind = component.get("type", 2) if component else 2
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": kind}
        if kind in _SELECTS:
            data["values"] = [str(getattr(v, "id", v)) for v in values or []]
        chan, guild = self.state.channel(target.channel_id)
        record = self._builder.new_record(
            MESSAGE_COMPONENT,
            who,
            chan,
            guild,
            data=data,
            locale=locale,
            message=self.state.messages.render(target),
            message_id=target.id,
        )
        return await self._deliver(record)

    async def submit_modal(
        self,
        user: User | str | int,
        source: InteractionHandle | str,
        values: dict[str, Any],
        *,
        locale: str = "en-US",
        validate: bool = True,
    ) -> InteractionHandle:
        """``user`` fills and submits the modal the bot opened in answer to ``source`` (a
        handle, or the modal's custom_id). ``values`` maps text input custom_ids to text."""
        who = self.user(user)
        opener = self._modal_opener(source)
        assert opener.response is not None
        modal = opener.response.data or {}
        await self._human_delay(opener.response.at)
        components = modal_submission(modal, values, validate=validate)
        chan, guild = self.state.channel(opener.channel_id)
        message_id = opener.message_id if opener.type == MESSAGE_COMPONENT else None
        message = None
        if message_id is not None:
            stored = self.state.messages.get(message_id)
            message = self.state.messages.render(stored) if stored else None
        record = self._builder.new_record(
            MODAL_SUBMIT,
            who,
            chan,
            guild,
            locale=locale,
            data={"custom_id": modal.get("custom_id"), "components": components},
            message=message,
            message_id=message_id,
        )
        return await self._deliver(record)

    async def send_user_message(
        self,
        user: User | str | int,
        channel: Channel | str | int,
        content: str = "",
        *,
        reply_to: StoredMessage | int | None = None,
        attachments: list[Any] | None = None,
    ) -> StoredMessage:
        """``user`` posts a message (MESSAGE_CREATE reaches the bot if it has the intents)."""
        who = self.user(user)
        chan = self.channel(channel)
        guild = self._guild_of(chan)
        files = []
        listed = []
        for index, item in enumerate(attachments or []):
            name, data = (
                item if isinstance(item, tuple) else (item["filename"], self.attachment_bytes(item))
            )
            files.append(UploadedFile(f"files[{index}]", name, None, data))
            listed.append({"id": index, "filename": name})
        payload: dict[str, Any] = {"content": content}
        if listed:
            payload["attachments"] = listed
        if reply_to is not None:
            payload["message_reference"] = {"message_id": str(getattr(reply_to, "id", reply_to))}
        message = self.state.messages.create(
            channel_id=chan.id,
            guild_id=guild.id if guild else None,
            author=who,
            payload=payload,
            files=files,
            upload_limit=self.rules.upload_limit(guild),
            now=self.state.now(),
        )
        self.state.message_event("MESSAGE_CREATE", message)
        self.state.notify()
        return message

    # -- helpers -------------------------------------------------------------------------------
    def _guild_of(self, channel: Channel) -> Guild | None:
        guild = self.state.world.guilds.get(channel.guild_id) if channel.guild_id else None
        if guild is not None and channel.id not in guild.channels_by_id:
            raise InteractionRefused(f"#{channel.name} was deleted")
        return guild

    async def _human_delay(self, since: float) -> None:
        wait = since + self.rules.min_click_delay - self.state.now()
        if wait > 0:
            await asyncio.sleep(wait)

    def _check_can_see(self, user: User, message: StoredMessage) -> None:
        if not message.ephemeral:
            return
        record = self.state.interactions.get(message.interaction_id or 0)
        if record is not None and record.user.id != user.id:
            raise InteractionRefused(
                f"{user.username} cannot see an ephemeral message meant for {record.user.username}"
            )

    def _modal_opener(self, source: InteractionHandle | str) -> InteractionRecord:
        if isinstance(source, InteractionHandle):
            record = source.record
        else:
            candidates = [
                r
                for r in self.state.interactions.values()
                if r.response is not None
                and r.response.type == MODAL
                and (r.response.data or {}).get("custom_id") == source
            ]
            if not candidates:
                raise InteractionRefused(f"no open modal with custom_id {source!r}")
            record = candidates[-1]
        if record.response is None or record.response.type != MODAL:
            raise InteractionRefused("the bot did not answer that interaction with a modal")
        return record

    async def _deliver(self, record: InteractionRecord) -> InteractionHandle:
        state = self.state
        gateway = state.gateway
        if gateway.current is None:
            raise RuntimeError("no bot is connected to the emulator's gateway")
        if not gateway.targets(record.guild_id):
            shards = sorted({s.shard for s in gateway.live if s.shard is not None})
            counts = sorted({count for _, count in shards})
            where = ", ".join(
                f"shard {shard_of(record.guild_id, n) if record.guild_id else 0} of {n}"
                for n in counts
            )
            raise RuntimeError(
                f"no bot session receives this interaction ({where}); live shards: {shards}"
            )
        state.interactions[record.id] = record
        state.by_token[record.token] = record
        record.created_at = state.now()
        await gateway.dispatch("INTERACTION_CREATE", record.payload, guild_id=record.guild_id)
        handle = InteractionHandle(state, record)
        self.handles.append(handle)
        return handle
