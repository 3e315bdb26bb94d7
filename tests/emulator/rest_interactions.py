"""Interaction callbacks and the interaction webhook (followups, @original edits).

Why this module exists: this is where Discord's interaction rules bite: the first response
within the deadline (else 10062), only one (else 40060), tokens that expire (50027), modals only
as a first response, and the first followup after a "thinking" defer replacing the loading
message. Answers include ``{"interaction", "resource"}`` when ``with_response`` is asked.
"""

from __future__ import annotations

from typing import Any

from tests.emulator.errors import (
    DiscordError,
    already_acknowledged,
    invalid_form,
    invalid_webhook_token,
    unknown,
)
from tests.emulator.interaction_state import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    MESSAGE_COMPONENT,
    MODAL,
    MODAL_SUBMIT,
    PING,
    PONG,
    UPDATE_MESSAGE,
    Callback,
    InteractionRecord,
)
from tests.emulator.message_rules import check_message, check_uploads
from tests.emulator.messages import (
    CHAT_INPUT_COMMAND,
    DEFAULT,
    EPHEMERAL,
    LOADING,
    StoredMessage,
)
from tests.emulator.router import NO_CONTENT, Call, Router
from tests.emulator.state import EmulatorState
from tests.emulator.validation import choices_problems, modal_problems

_WEBHOOK = "/webhooks/{webhook_id}/{webhook_token}"


def register(router: Router) -> None:
    router.add(
        "POST", "/interactions/{interaction_id}/{interaction_token}/callback", callback, auth=False
    )
    router.add("POST", _WEBHOOK, followup, auth=False)
    for method, handler in (
        ("GET", get_webhook_message),
        ("PATCH", edit_webhook_message),
        ("DELETE", delete_webhook_message),
    ):
        router.add(method, _WEBHOOK + "/messages/{message_id}", handler, auth=False)


# -- callbacks -----------------------------------------------------------------------------------
_ALLOWED: dict[int, set[int]] = {
    PING: {PONG},
    APPLICATION_COMMAND: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL},
    MESSAGE_COMPONENT: {
        CHANNEL_MESSAGE,
        DEFERRED_CHANNEL_MESSAGE,
        DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
        MODAL,
    },
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {
        CHANNEL_MESSAGE,
        DEFERRED_CHANNEL_MESSAGE,
        DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
    },
}


async def callback(call: Call) -> Any:
    state = call.state
    try:
        record = state.interactions.get(call.int_param("interaction_id"))
    except ValueError:
        record = None
    if record is None or record.token != call.params["interaction_token"]:
        raise unknown("interaction")
    now = state.now()
    payload = call.json if isinstance(call.json, dict) else {}
    kind = payload.get("type")
    data = payload.get("data") if isinstance(payload.get("data"), dict) else None
    attempt = Callback(
        type=kind,
        data=data,
        at=now,
        latency=now - record.created_at,
        status=200,
        files=list(call.body.files),
    )
    try:
        answer = _respond(state, record, kind, data or {}, call)
    except DiscordError as exc:
        attempt.status, attempt.error_code = exc.status, exc.code
        record.attempts.append(attempt)
        state.notify()
        raise
    record.attempts.append(attempt)
    if record.response is None:
        record.response = attempt
    state.notify()
    if call.query.get("with_response") in ("1", "true", "True"):
        return answer
    return NO_CONTENT


def _respond(
    state: EmulatorState, record: InteractionRecord, kind: Any, data: dict[str, Any], call: Call
) -> dict[str, Any]:
    rules = state.rules
    latency = state.now() - record.created_at
    check_uploads(call.body.files, state.upload_limit(record.guild_id))
    if record.acknowledged:
        if rules.enforce_double_ack:
            raise already_acknowledged()
    elif rules.deadline_seconds is not None and latency > rules.deadline_seconds:
        raise unknown("interaction")
    if rules.token_ttl_seconds is not None and latency > rules.token_ttl_seconds:
        raise unknown("interaction")
    allowed = set(_ALLOWED.get(record.type, set()))
    if record.type == MODAL_SUBMIT and record.message_id is None:
        allowed -= {DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE}
    if kind not in allowed:
        raise invalid_form(
            {
                ("type",): (
                    "INTERACTION_RESPONSE_TYPE_INVALID",
                    f"Interaction response type {kind} is not valid for interaction type "
                    f"{record.type}.",
                )
            }
        )
    if kind == CHANNEL_MESSAGE:
        check_message(rules, data, ("data",))
    elif kind == UPDATE_MESSAGE:
        clicked = state.messages.get(record.message_id or 0)
        check_message(rules, data, ("data",), current_flags=clicked.flags if clicked else 0)
    elif kind == MODAL:
        problems = modal_problems(data)
        if problems:
            raise invalid_form({("data", *p): v for p, v in problems.items()})
    elif kind == AUTOCOMPLETE_RESULT:
        problems = choices_problems(data)
        if problems:
            raise invalid_form({("data", *p): v for p, v in problems.items()})

    interaction = {"id": str(record.id), "type": record.type}
    resource: dict[str, Any] = {"type": kind}
    limit = state.upload_limit(record.guild_id)
    if kind == CHANNEL_MESSAGE:
        message = _create(
            state, record, data, call, ephemeral=bool(int(data.get("flags") or 0) & EPHEMERAL)
        )
        record.original_id = message.id
        resource["message"] = state.messages.render(message)
        interaction.update(
            response_message_id=str(message.id),
            response_message_loading=False,
            response_message_ephemeral=message.ephemeral,
        )
    elif kind == DEFERRED_CHANNEL_MESSAGE:
        ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
        message = state.messages.create(
            channel_id=record.channel_id,
            guild_id=record.guild_id,
            author=state.world.bot_user,
            payload={},
            files=[],
            upload_limit=limit,
            now=state.now(),
            msg_type=_message_type(record),
            extra_flags=LOADING | (EPHEMERAL if ephemeral else 0),
            extra=_interaction_extra(state, record),
            interaction_id=record.id,
            allow_empty=True,
        )
        record.original_id = message.id
        record.defer_pending = True
        state.message_event("MESSAGE_CREATE", message)
        interaction.update(
            response_message_id=str(message.id),
            response_message_loading=True,
            response_message_ephemeral=ephemeral,
        )
    elif kind in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
        target = state.messages.get(record.message_id or 0)
        if target is None or target.deleted:
            raise unknown("Message")
        if kind == UPDATE_MESSAGE:
            state.messages.edit(target, data, list(call.body.files), limit, state.now())
            state.message_event("MESSAGE_UPDATE", target)
            resource["message"] = state.messages.render(target)
        record.original_id = target.id
        interaction.update(
            response_message_id=str(target.id),
            response_message_loading=False,
            response_message_ephemeral=target.ephemeral,
        )
    return {"interaction": interaction, "resource": resource}


def _message_type(record: InteractionRecord) -> int:
    return CHAT_INPUT_COMMAND if record.type == APPLICATION_COMMAND else DEFAULT


def _interaction_extra(state: EmulatorState, record: InteractionRecord) -> dict[str, Any]:
    app = str(state.world.application_id)
    owners = (
        {"0": str(record.guild_id)} if record.guild_id is not None else {"1": str(record.user.id)}
    )
    metadata: dict[str, Any] = {
        "id": str(record.id),
        "type": record.type,
        "user": record.user.payload(),
        "authorizing_integration_owners": owners,
    }
    extra: dict[str, Any] = {
        "webhook_id": app,
        "application_id": app,
        "interaction_metadata": metadata,
    }
    if record.type == APPLICATION_COMMAND:
        metadata.update(name=record.data.get("name"), command_type=record.data.get("type", 1))
        extra["interaction"] = {
            "id": str(record.id),
            "type": record.type,
            "name": record.data.get("name"),
            "user": record.user.payload(),
        }
    elif record.message_id is not None:
        metadata["interacted_message_id"] = str(record.message_id)
    return extra


def _create(
    state: EmulatorState,
    record: InteractionRecord,
    data: dict[str, Any],
    call: Call,
    *,
    ephemeral: bool,
    msg_type: int | None = None,
) -> StoredMessage:
    message = state.messages.create(
        channel_id=record.channel_id,
        guild_id=record.guild_id,
        author=state.world.bot_user,
        payload=data,
        files=list(call.body.files),
        upload_limit=state.upload_limit(record.guild_id),
        now=state.now(),
        msg_type=_message_type(record) if msg_type is None else msg_type,
        extra_flags=EPHEMERAL if ephemeral else 0,
        extra=_interaction_extra(state, record),
        interaction_id=record.id,
    )
    state.message_event("MESSAGE_CREATE", message)
    return message


# -- the interaction webhook ---------------------------------------------------------------------
def _webhook_record(call: Call) -> InteractionRecord:
    state = call.state
    record = state.by_token.get(call.params["webhook_token"])
    if record is None or call.params["webhook_id"] != str(state.world.application_id):
        raise DiscordError(404, 10015, "Unknown Webhook")
    ttl = state.rules.token_ttl_seconds
    if ttl is not None and state.now() - record.created_at > ttl:
        raise invalid_webhook_token()
    if not record.acknowledged:
        raise DiscordError(404, 10015, "Unknown Webhook")
    return record


def _webhook_message(call: Call, record: InteractionRecord) -> StoredMessage:
    raw = call.params["message_id"]
    if raw == "@original":
        message_id = record.original_id
    else:
        try:
            message_id = int(raw)
        except ValueError:
            message_id = None
        if message_id not in (record.original_id, *record.followup_ids):
            message_id = None
    message = call.state.messages.get(message_id) if message_id is not None else None
    if message is None or message.deleted:
        raise unknown("Message")
    return message


async def followup(call: Call) -> Any:
    state = call.state
    record = _webhook_record(call)
    payload = call.json if isinstance(call.json, dict) else {}
    check_uploads(call.body.files, state.upload_limit(record.guild_id))
    check_message(state.rules, payload)
    original = state.messages.get(record.original_id) if record.original_id else None
    if record.defer_pending and original is not None and original.loading:
        # Discord: the first followup after a "thinking" defer becomes the loading message.
        state.messages.edit(
            original,
            {k: v for k, v in payload.items() if k != "flags"},
            list(call.body.files),
            state.upload_limit(record.guild_id),
            state.now(),
        )
        record.defer_pending = False
        record.followup_ids.append(original.id)
        state.message_event("MESSAGE_UPDATE", original)
        message = original
    else:
        message = _create(
            state,
            record,
            payload,
            call,
            msg_type=DEFAULT,
            ephemeral=bool(int(payload.get("flags") or 0) & EPHEMERAL),
        )
        record.followup_ids.append(message.id)
    state.notify()
    if call.query.get("wait") in ("1", "true", "True"):
        return state.messages.render(message)
    return NO_CONTENT


async def get_webhook_message(call: Call) -> Any:
    record = _webhook_record(call)
    return call.state.messages.render(_webhook_message(call, record))


async def edit_webhook_message(call: Call) -> Any:
    state = call.state
    record = _webhook_record(call)
    message = _webhook_message(call, record)
    payload = call.json if isinstance(call.json, dict) else {}
    check_uploads(call.body.files, state.upload_limit(record.guild_id))
    check_message(state.rules, payload, current_flags=message.flags)
    if message.loading:
        record.defer_pending = False
    state.messages.edit(
        message, payload, list(call.body.files), state.upload_limit(record.guild_id), state.now()
    )
    state.message_event("MESSAGE_UPDATE", message)
    return state.messages.render(message)


async def delete_webhook_message(call: Call) -> Any:
    state = call.state
    record = _webhook_record(call)
    message = _webhook_message(call, record)
    state.messages.delete(message, state.now())
    state.message_delete_event(message)
    if message.id == record.original_id:
        record.defer_pending = False
    return NO_CONTENT
