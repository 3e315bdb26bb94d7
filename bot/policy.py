"""A server's rules for generation: where, who, which models, safety, blocked words, audit.

Why this module exists: community servers and moderated team channels decide who may spend
their money and on what. The rules are data (one pydantic model per server, stored as JSON
beside the budget columns) and checking them is a pure function, so the same checks run for a
slash command and for every button that starts a generation.

Budgets, the concurrent-job limit and the cooldown are not here: they are checked atomically
with the reservation (:mod:`bot.jobs.budget`). How a blocklist entry is found in a member's
text, disguised or not, is :mod:`bot.blocklist`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.blocklist import MAX_ENTRY_LENGTH, Entry, compile_blocklist, compile_entry
from bot.i18n import _

MAX_BLOCKLIST = 200
MAX_PATTERN_LENGTH = MAX_ENTRY_LENGTH


DEFAULT_APPROVAL_EXPIRE_HOURS = 24.0
"""How long a request for approval waits for a staff decision unless the server says."""


class GuildPolicy(BaseModel):
    """Per-server rules (empty lists mean "no restriction")."""

    model_config = ConfigDict(extra="ignore")

    allowed_channel_ids: list[int] = Field(default_factory=list)
    allowed_role_ids: list[int] = Field(default_factory=list)
    disabled_models: list[str] = Field(default_factory=list)
    safety_locked: bool = False
    blocklist: list[str] = Field(default_factory=list)
    audit_channel_id: int | None = None
    # Per model id: the value each option takes when a member leaves it out (bot.defaults).
    option_defaults: dict[str, dict[str, str | int | bool]] = Field(default_factory=dict)
    # Jobs estimated above this (USD) wait for a staff decision (None: no approval needed);
    # requests go to approval_channel_id, else the audit channel. Members with an exempt role
    # never wait; a request nobody decides within approval_expire_hours lapses (released).
    approval_above: Decimal | None = None
    approval_channel_id: int | None = None
    approval_exempt_role_ids: list[int] = Field(default_factory=list)
    approval_expire_hours: float = Field(DEFAULT_APPROVAL_EXPIRE_HOURS, gt=0)

    def needs_approval(self, estimate: Decimal, role_ids: Iterable[int]) -> bool:
        """Whether a job of ``estimate`` by a member with ``role_ids`` waits for staff."""
        if self.approval_above is None or estimate <= self.approval_above:
            return False
        return not set(role_ids) & set(self.approval_exempt_role_ids)

    @property
    def approval_destination(self) -> int | None:
        """The channel approval requests are posted in (None: none set at all)."""
        return self.approval_channel_id or self.audit_channel_id

    @field_validator("blocklist")
    @classmethod
    def _patterns_bounded(cls, patterns: list[str]) -> list[str]:
        # Only the length is checked here, as it always was: an entry stored before entries had
        # to hold a letter must not make the server's settings unreadable (it matches nothing).
        # New entries go through compile_pattern().
        for pattern in patterns:
            if not pattern.strip() or len(pattern.strip()) > MAX_PATTERN_LENGTH:
                raise ValueError(f"a blocklist entry must be 1 to {MAX_PATTERN_LENGTH} characters")
        return patterns


class PolicyRefusal(Exception):
    """The server's rules say no. ``str()`` is for the member; ``audit`` says whether staff
    should hear of it (blocklist hits are audited)."""

    def __init__(self, message: str, *, reason: str, audit: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.audit = audit


def compile_pattern(pattern: str) -> Entry:
    """Check a blocklist entry as staff typed it (:class:`ValueError` says what is wrong).

    Matching is case-insensitive and sees through disguises (:mod:`bot.blocklist`). Plain
    words and phrases match whole words (``cat`` does not block ``concatenate``; ``blood bath``
    blocks ``blood  bath`` and ``blood.bath``); ``*`` matches any run of letters or digits
    (``gore*`` blocks ``gore``, ``gores`` and ``gorefest``). Punctuation and symbols separate
    words, in entries as in prompts: ``c++`` is the word ``c``.
    """
    return compile_entry(pattern)


def blocked_term(policy: GuildPolicy, *texts: str | None) -> str | None:
    """The first blocklist entry (as staff typed it) found in any of ``texts``, or ``None``."""
    return compile_blocklist(tuple(policy.blocklist)).first_match(*texts)


def check_policy(
    policy: GuildPolicy,
    *,
    model_id: str,
    channel_id: int,
    parent_channel_id: int | None,
    role_ids: set[int],
    is_staff: bool,
    age_restricted: bool,
    safety_filter: bool | None,
    texts: Sequence[str | None],
) -> None:
    """Raise :class:`PolicyRefusal` when the server's rules refuse this generation.

    ``texts`` is every piece of free text the member's request sends (prompt, negative prompt,
    template name…): each is checked against the blocklist.
    """
    if policy.allowed_channel_ids and not (
        {channel_id, parent_channel_id} & set(policy.allowed_channel_ids)
    ):
        channels = ", ".join(f"<#{cid}>" for cid in policy.allowed_channel_ids[:10])
        raise PolicyRefusal(
            _("Generation isn't allowed in this channel. Use {channels}.").format(
                channels=channels
            ),
            reason="channel",
        )
    if policy.allowed_role_ids and not is_staff and not (role_ids & set(policy.allowed_role_ids)):
        roles = ", ".join(f"<@&{rid}>" for rid in policy.allowed_role_ids[:10])
        raise PolicyRefusal(
            _("Generation on this server is for members with one of these roles: {roles}.").format(
                roles=roles
            ),
            reason="role",
        )
    if model_id in policy.disabled_models:
        raise PolicyRefusal(
            _("{model} is turned off on this server. Try another model.").format(model=model_id),
            reason="model",
        )
    if safety_filter is False:
        if policy.safety_locked:
            raise PolicyRefusal(
                _("The safety filter is locked on by this server's staff; leave it on."),
                reason="safety_locked",
            )
        if not age_restricted:
            raise PolicyRefusal(
                _(
                    "The safety filter can only be turned off in an age-restricted channel. "
                    "Leave it on, or use an age-restricted channel."
                ),
                reason="safety_channel",
            )
    if blocked_term(policy, *texts) is not None:
        raise PolicyRefusal(
            _(
                "Your prompt contains a word or phrase this server doesn't allow. Rephrase it "
                "and try again."
            ),
            reason="blocklist",
            audit=True,
        )
