"""/wanbot: the server staff's settings (budgets, limits, channels, roles, models, safety,
blocklist, audit channel, option defaults) and ``/wanbot release``, which gives back an estimate
a job holds.

Hidden from members by ``default_member_permissions`` (Manage Server) and checked again at run
time, since servers can re-grant commands per role and a hidden command can still be invoked.
Every change is one read-modify-write transaction and applies to the next submission.

A job whose outcome the bot never learned (``submission_unknown``, or ``timed_out`` after the
provider accepted it) keeps its estimate counted ("held"), because the provider may have billed
it; only staff, having checked the provider's dashboard, can release it.

What it must never do: act on a job of another server, release an estimate that is not held
(the store decides, in one transaction, with its ledger entry), or do the bookkeeping itself:
options are parsed here, the store does the work, and the answer is rendered here.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot import defaults
from bot.availability import ModelOff, models_off
from bot.catalog import MODEL_IDS, resolve
from bot.discord_ui.audit import post_audit
from bot.discord_ui.checks import is_staff, require_staff
from bot.discord_ui.embeds import cost_text, model_title
from bot.discord_ui.errors import UserFacingError
from bot.i18n import _, message_of, ngettext
from bot.jobs.budget import Limits
from bot.jobs.records import GuildConfig, Job
from bot.jobs.states import JobState
from bot.policy import MAX_BLOCKLIST, GuildPolicy, compile_pattern
from bot.pricing import format_usd
from bot.wording import STATE_WORDS

if TYPE_CHECKING:
    from bot.discord_ui.client import WanBot

Action = Literal["add", "remove", "clear"]


def parse_budget(text: str | None) -> Decimal | None:
    """``"none"`` clears a cap; a number (``0`` turns generation off) sets it exactly."""
    if text is None or text.strip().lower() in ("none", "no cap", ""):
        return None
    try:
        value = Decimal(text.strip().removeprefix("$"))
    except InvalidOperation:
        raise UserFacingError(
            _(
                "{text} isn't an amount: write dollars like 2.50, 0 to turn generation off, or "
                "none for no cap."
            ).format(text=repr(text))
        ) from None
    if not value.is_finite() or value < 0 or value > Decimal(1_000_000):
        raise UserFacingError(_("A budget must be between 0 and 1000000 dollars."))
    return value


def describe(
    config: GuildConfig,
    bot_limits: Limits,
    off_on_this_bot: Mapping[str, ModelOff] | None = None,
) -> str:
    """The server's settings over the bot's (``bot_limits``: the operator's defaults), and
    the models the operator's settings switch off everywhere."""
    policy = config.policy

    def money(value: Decimal | None) -> str:
        if value is None:
            return _("no cap")
        return _("generation off") if value == 0 else format_usd(value)

    limits = config.limits
    concurrency = limits.max_concurrent_per_user or bot_limits.max_concurrent_per_user
    queue = limits.over(bot_limits).queue_per_user or 0
    safety = (
        _("locked on")
        if policy.safety_locked
        else _("members may turn it off in age-restricted channels")
    )
    entries = len(policy.blocklist)
    lines = [
        _("**Per-member daily budget:** {value}").format(value=money(limits.user_daily_budget)),
        _("**Server monthly budget:** {value}").format(value=money(limits.guild_monthly_budget)),
        _("**Jobs at once per member:** {value}").format(value=concurrency or _("no limit")),
        _("**Queue per member:** {value}").format(value=queue or _("none (refused at the limit)")),
        _("**Cooldown between submissions:** {seconds} s").format(
            seconds=f"{limits.cooldown_seconds or 0:.0f}"
        ),
        _("**Channels:** {value}").format(
            value=", ".join(f"<#{c}>" for c in policy.allowed_channel_ids) or _("everywhere")
        ),
        _("**Roles:** {value}").format(
            value=", ".join(f"<@&{r}>" for r in policy.allowed_role_ids) or _("everyone")
        ),
        _("**Models off:** {value}").format(value=", ".join(policy.disabled_models) or _("none")),
        *_off_on_this_bot(off_on_this_bot or {}),
        _("**Safety filter:** {value}").format(value=safety),
        ngettext("**Blocklist:** {count} entry", "**Blocklist:** {count} entries", entries).format(
            count=entries
        ),
        _("**Audit channel:** {value}").format(
            value=f"<#{policy.audit_channel_id}>" if policy.audit_channel_id else _("none")
        ),
        _("**Approval:** {value}").format(value=approval_rule(policy)),
        _("**Defaults:** {value}").format(
            value="; ".join(
                f"{model} {defaults.describe(values)}"
                for model, values in sorted(policy.option_defaults.items())
                if values
            )
            or _("the bot's (cheapest size or resolution)")
        ),
    ]
    return "\n".join(lines)


def approval_rule(policy: GuildPolicy) -> str:
    """``/wanbot show``'s and ``/help``'s line on approval: threshold, where, who is exempt."""
    if policy.approval_above is None:
        return _("not needed")
    where = (
        f"<#{policy.approval_destination}>"
        if policy.approval_destination
        else _("nowhere (set a channel: requests are refused)")
    )
    rule = _(
        "staff approve jobs above {threshold} (requests in {where}, lapse after {hours} h)"
    ).format(
        threshold=format_usd(policy.approval_above),
        where=where,
        hours=f"{policy.approval_expire_hours:g}",
    )
    exempt = ", ".join(f"<@&{role}>" for role in policy.approval_exempt_role_ids)
    return _("{rule}; exempt: {roles}").format(rule=rule, roles=exempt) if exempt else rule


def _off_on_this_bot(off: Mapping[str, ModelOff]) -> list[str]:
    """One line per reason: ``**Off on this bot:** a, b (MULEROUTER_API_KEY is not set)``."""
    by_reason: dict[str, list[str]] = {}
    for model in off.values():
        by_reason.setdefault(model.reason, []).append(model.model_id)
    return [
        _("**Off on this bot:** {models} ({why}; only the operator can change it)").format(
            models=", ".join(models), why=reason
        )
        for reason, models in by_reason.items()
    ]


def not_on_this_server(job_id: int) -> str:
    return _(
        "There is no job #{job} on this server. `/usage server` lists the jobs here whose "
        "estimate is held."
    ).format(job=job_id)


_RESULT_STATES = (JobState.SUCCEEDED, JobState.DELIVERING, JobState.DELIVERED)


def why_nothing_held(job: Job) -> str:
    """Why ``/wanbot release`` has nothing to release for ``job`` (one that does not hold its
    estimate): released already, billed, charged for a result, still running, or never held."""
    estimate = format_usd(job.estimated_cost)
    state = _(STATE_WORDS[job.state].short)
    if job.hold_released_at is not None:
        # The record keeps when, not who: the audit channel has who released it.
        return _(
            "Job #{job} holds nothing: its estimate ({estimate}) was already released {when}."
        ).format(job=job.id, estimate=estimate, when=f"<t:{int(job.hold_released_at)}:f>")
    if job.billed_cost is not None:
        return _(
            "Job #{job} holds nothing: the provider billed it ({cost}), so that is a charge, "
            "not a hold."
        ).format(job=job.id, cost=format_usd(job.billed_cost))
    if job.state in _RESULT_STATES or (
        job.state is JobState.FAILED and job.error_code == "delivery_failed"
    ):
        return _(
            "Job #{job} holds nothing: it produced a result, so its cost ({cost}) is a charge."
        ).format(job=job.id, cost=cost_text(job))
    if not job.state.final:
        return _(
            "Job #{job} is still {state}: its estimate is reserved until it ends, and released "
            "then unless the provider bills it. `/jobs cancel` stops it."
        ).format(job=job.id, state=state)
    if job.state is JobState.CANCELLED and job.submitted_at is not None:
        return _(
            "Job #{job} holds nothing: it was cancelled while running at the provider, which "
            "bills it, so its estimate ({estimate}) is a charge."
        ).format(job=job.id, estimate=estimate)
    return _(
        "Job #{job} holds nothing: it was never held. It ended ({state}) without being billed, "
        "and its estimate was released then."
    ).format(job=job.id, state=state)


def released_text(job: Job) -> str:
    """The staff member's confirmation once ``job``'s held estimate is released."""
    return _(
        "Released the {estimate} estimate held by job #{job} ({model}) of {member}: it no "
        "longer counts against their daily budget or the server's monthly budget."
    ).format(
        estimate=format_usd(job.estimated_cost),
        job=job.id,
        model=model_title(job),
        member=f"<@{job.user_id}>",
    )


def _toggle(values: list[int], action: Action, value: int | None) -> list[int]:
    if action == "clear":
        return []
    if value is None:
        raise UserFacingError(_("Say which one to {action}.").format(action=_(action)))
    if action == "add":
        return [*values, value] if value not in values else values
    return [existing for existing in values if existing != value]


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Admin(
    commands.GroupCog,
    group_name="wanbot",
    group_description="wanbot settings for this server (staff)",
):
    def __init__(self, bot: WanBot) -> None:
        self.bot = bot
        super().__init__()

    # discord.py types this generically (Interaction[ClientT]); overriding it for WanBot narrows
    # the type (an LSP [override] error), but every interaction this cog gets is WanBot's.
    async def interaction_check(self, interaction: discord.Interaction[WanBot]) -> bool:  # type: ignore[override]
        return require_staff(interaction)

    async def _edit(
        self,
        interaction: discord.Interaction[WanBot],
        edit: Callable[[GuildConfig], GuildConfig],
        done: str,
    ) -> None:
        assert interaction.guild is not None
        config = await self.bot.store.edit_guild_config(interaction.guild.id, time.time(), edit)
        default = self.bot.engine.config.default_limits
        off = models_off(self.bot.settings)
        await interaction.response.send_message(
            f"{done}\n\n{describe(config, default, off)}",
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @staticmethod
    def _limits(config: GuildConfig, **changes: Any) -> GuildConfig:
        return dataclasses.replace(config, limits=dataclasses.replace(config.limits, **changes))

    @staticmethod
    def _policy(config: GuildConfig, **changes: object) -> GuildConfig:
        policy = GuildPolicy.model_validate({**config.policy.model_dump(), **changes})
        return dataclasses.replace(config, policy=policy)

    @app_commands.command(name="show", description="Show this server's wanbot settings")
    async def show(self, interaction: discord.Interaction[WanBot]) -> None:
        assert interaction.guild is not None
        config = await self.bot.store.guild_config(interaction.guild.id)
        default = self.bot.engine.config.default_limits
        await interaction.response.send_message(
            describe(config, default, models_off(self.bot.settings)),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @app_commands.command(name="budget", description="Spending caps in US dollars")
    @app_commands.describe(
        user_daily="Per-member cap per UTC day: dollars, 0 = generation off, none = no cap",
        server_monthly="Server cap per UTC month: dollars, 0 = generation off, none = no cap",
    )
    async def budget(
        self,
        interaction: discord.Interaction[WanBot],
        user_daily: str | None = None,
        server_monthly: str | None = None,
    ) -> None:
        changes = {}
        if user_daily is not None:
            changes["user_daily_budget"] = parse_budget(user_daily)
        if server_monthly is not None:
            changes["guild_monthly_budget"] = parse_budget(server_monthly)
        if not changes:
            raise UserFacingError(_("Give user_daily, server_monthly or both."))
        await self._edit(
            interaction,
            lambda config: self._limits(config, **changes),
            _("Budgets updated; they apply from the next submission."),
        )

    @app_commands.command(
        name="member-budget",
        description="One member's daily cap, in place of the server's per-member cap",
    )
    @app_commands.describe(
        member="Whose cap",
        daily="Dollars per UTC day, 0 = generation off for them, none = back to the server's cap",
    )
    async def member_budget(
        self, interaction: discord.Interaction[WanBot], member: discord.Member, daily: str
    ) -> None:
        assert interaction.guild is not None
        amount = parse_budget(daily)
        await self.bot.store.set_user_daily_budget(
            interaction.guild.id, member.id, amount, time.time()
        )
        if amount is None:
            text = _("{member} now has the server's per-member daily cap.")
        elif amount == 0:
            text = _("Generation is off for {member}.")
        else:
            text = _("{member} may spend {amount} a day (UTC).")
        await interaction.response.send_message(
            text.format(member=member.mention, amount=format_usd(amount or Decimal(0)))
            + " "
            + _("It applies from their next submission."),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @app_commands.command(
        name="limits", description="Jobs at once per member, their queue, and cooldown"
    )
    @app_commands.describe(
        concurrent="Generations one member may have running at once (0: back to the bot's default)",
        queue="Generations a member at that limit may queue, started in turn (0: refuse instead)",
        cooldown="Seconds a member waits between two submissions",
    )
    async def limits(
        self,
        interaction: discord.Interaction[WanBot],
        concurrent: app_commands.Range[int, 0, 50] | None = None,
        queue: app_commands.Range[int, 0, 20] | None = None,
        cooldown: app_commands.Range[int, 0, 86400] | None = None,
    ) -> None:
        changes: dict[str, object] = {}
        if concurrent is not None:
            changes["max_concurrent_per_user"] = concurrent or None
        if queue is not None:
            changes["queue_per_user"] = queue
        if cooldown is not None:
            changes["cooldown_seconds"] = float(cooldown)
        if not changes:
            raise UserFacingError(_("Give concurrent, queue, cooldown or several."))
        await self._edit(
            interaction, lambda config: self._limits(config, **changes), _("Limits updated.")
        )

    @app_commands.command(
        name="channels", description="Where generation is allowed (none listed = everywhere)"
    )
    async def channels(
        self,
        interaction: discord.Interaction[WanBot],
        action: Action,
        channel: discord.TextChannel | None = None,
    ) -> None:
        value = channel.id if channel else None
        await self._edit(
            interaction,
            lambda config: self._policy(
                config,
                allowed_channel_ids=(_toggle(config.policy.allowed_channel_ids, action, value)),
            ),
            _("Channels updated."),
        )

    @app_commands.command(name="roles", description="Who may generate (none listed = everyone)")
    async def roles(
        self,
        interaction: discord.Interaction[WanBot],
        action: Action,
        role: discord.Role | None = None,
    ) -> None:
        value = role.id if role else None
        await self._edit(
            interaction,
            lambda config: self._policy(
                config, allowed_role_ids=(_toggle(config.policy.allowed_role_ids, action, value))
            ),
            _("Roles updated."),
        )

    @app_commands.command(name="model", description="Turn one model on or off here")
    @app_commands.choices(
        model=[app_commands.Choice(name=model_id, value=model_id) for model_id in MODEL_IDS]
    )
    async def model(
        self,
        interaction: discord.Interaction[WanBot],
        model: app_commands.Choice[str],
        enabled: bool,
    ) -> None:
        def edit(config: GuildConfig) -> GuildConfig:
            disabled = [m for m in config.policy.disabled_models if m != model.value]
            if not enabled:
                disabled.append(model.value)
            return self._policy(config, disabled_models=disabled)

        await self._edit(
            interaction,
            edit,
            (
                _("{model} is on on this server.")
                if enabled
                else _("{model} is off on this server.")
            ).format(model=model.value),
        )

    @app_commands.command(name="safety", description="Lock the content safety filter on")
    @app_commands.describe(locked="On: members can never turn the filter off here")
    async def safety(self, interaction: discord.Interaction[WanBot], locked: bool) -> None:
        await self._edit(
            interaction,
            lambda config: self._policy(config, safety_locked=locked),
            _("Safety filter locked on.")
            if locked
            else _("Safety filter unlocked (members may turn it off in age-restricted channels)."),
        )

    @app_commands.command(name="blocklist", description="Words or patterns refused in prompts")
    @app_commands.describe(
        action="add, remove, clear or list",
        pattern="A word or phrase; * matches any letters (e.g. gore*)",
    )
    async def blocklist(
        self,
        interaction: discord.Interaction[WanBot],
        action: Literal["add", "remove", "clear", "list"],
        pattern: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        assert interaction.guild is not None
        if action == "list":
            config = await self.bot.store.guild_config(interaction.guild.id)
            entries = config.policy.blocklist
            text = "\n".join(f"• `{entry}`" for entry in entries) or _("The blocklist is empty.")
            await interaction.response.send_message(text[:1900], ephemeral=True)
            return

        def edit(config: GuildConfig) -> GuildConfig:
            entries = list(config.policy.blocklist)
            if action == "clear":
                entries = []
            elif pattern is None:
                raise UserFacingError(
                    _("Give the pattern to add.")
                    if action == "add"
                    else _("Give the pattern to remove.")
                )
            elif action == "add":
                try:
                    compile_pattern(pattern)
                except ValueError as exc:
                    raise UserFacingError(message_of(exc)) from None
                if pattern.lower() not in (entry.lower() for entry in entries):
                    if len(entries) >= MAX_BLOCKLIST:
                        raise UserFacingError(
                            _("The blocklist holds at most {count} entries.").format(
                                count=MAX_BLOCKLIST
                            )
                        )
                    entries.append(pattern.strip())
            else:
                entries = [entry for entry in entries if entry.lower() != pattern.lower()]
            return self._policy(config, blocklist=entries)

        await self._edit(interaction, edit, _("Blocklist updated."))

    @app_commands.command(
        name="audit-channel",
        description="Where submissions, refusals and cancels are recorded (leave empty to stop)",
    )
    async def audit_channel(
        self, interaction: discord.Interaction[WanBot], channel: discord.TextChannel | None = None
    ) -> None:
        value = channel.id if channel else None
        await self._edit(
            interaction,
            lambda config: self._policy(config, audit_channel_id=value),
            _("Audit channel: {channel}.").format(
                channel=channel.mention if channel else _("none")
            ),
        )

    @app_commands.command(
        name="approval", description="Jobs above a cost wait for a staff decision"
    )
    @app_commands.rename(role_exempt="role-exempt", expire_hours="expire-hours")
    @app_commands.describe(
        above="Dollars: jobs estimated above this wait for Approve or Deny (none: no approval)",
        channel="Where requests are posted (default: the audit channel)",
        role_exempt="A role whose members never wait (give an exempt role again to remove it)",
        expire_hours="Hours a request waits for a decision before it lapses (default 24)",
    )
    async def approval(
        self,
        interaction: discord.Interaction[WanBot],
        above: str | None = None,
        channel: discord.TextChannel | None = None,
        role_exempt: discord.Role | None = None,
        expire_hours: app_commands.Range[float, 0.001, 720.0] | None = None,
    ) -> None:
        changes: dict[str, object] = {}
        if above is not None:
            try:  # the same amounts as a budget; "0" means every paid job, not "off"
                changes["approval_above"] = parse_budget(above)
            except UserFacingError:
                raise UserFacingError(
                    _(
                        "{value} isn't an amount: write dollars like 0.50 (jobs estimated above "
                        "it wait for staff), or none for no approval."
                    ).format(value=repr(above))
                ) from None
        if channel is not None:
            changes["approval_channel_id"] = channel.id
        if expire_hours is not None:
            changes["approval_expire_hours"] = float(expire_hours)
        if not changes and role_exempt is None:
            raise UserFacingError(_("Give above, channel, role-exempt, expire-hours or several."))

        def edit(config: GuildConfig) -> GuildConfig:
            exempt = list(config.policy.approval_exempt_role_ids)
            if role_exempt is not None:
                exempt = (
                    [role for role in exempt if role != role_exempt.id]
                    if role_exempt.id in exempt
                    else [*exempt, role_exempt.id]
                )
            edited = self._policy(config, **changes, approval_exempt_role_ids=exempt)
            policy = edited.policy
            if policy.approval_above is not None and policy.approval_destination is None:
                raise UserFacingError(
                    _(
                        "Approval needs a channel for its requests: give channel, or set an "
                        "audit channel first (`/wanbot audit-channel`)."
                    )
                )
            return edited

        await self._edit(interaction, edit, _("Approval updated; it applies from the next job."))

    @app_commands.command(
        name="defaults", description="What an option is when a member leaves it out"
    )
    @app_commands.describe(
        model="The model these defaults are for",
        option="The option to set (leave value out to go back to the bot's default)",
        value="Its value here, e.g. 1920*1080, 1080P, 10, on",
    )
    @app_commands.choices(
        model=[app_commands.Choice(name=model_id, value=model_id) for model_id in MODEL_IDS],
        option=[
            app_commands.Choice(name=name.replace("_", " "), value=name)
            for name in defaults.DEFAULTABLE
        ],
    )
    async def defaults_(
        self,
        interaction: discord.Interaction[WanBot],
        model: app_commands.Choice[str],
        option: app_commands.Choice[str],
        value: app_commands.Range[str, 1, 40] | None = None,
    ) -> None:
        spec = resolve(model.value, self.bot.settings)
        try:
            chosen = None if value is None else defaults.parse_default(spec, option.value, value)
        except defaults.DefaultRefused as exc:
            raise UserFacingError(message_of(exc)) from None
        if chosen is False and option.value == "safety_filter":
            config = await self.bot.store.guild_config(interaction.guild_id or 0)
            if config.policy.safety_locked:
                raise UserFacingError(
                    _(
                        "The safety filter is locked on here (`/wanbot safety`), so its default "
                        "stays on."
                    )
                )

        def edit(config: GuildConfig) -> GuildConfig:
            every = {key: dict(values) for key, values in config.policy.option_defaults.items()}
            own = every.setdefault(model.value, {})
            if chosen is None:
                own.pop(option.value, None)
            else:
                own[option.value] = chosen
            return self._policy(config, option_defaults={k: v for k, v in every.items() if v})

        if chosen is None:
            done = _("{model}: {option} is back to the bot's default ({value}).").format(
                model=model.value,
                option=_(option.name),
                value=defaults.shown(defaults.built_in(spec, option.value)),
            )
        else:
            done = _("{model}: {option} is {value} when a member leaves it out.").format(
                model=model.value, option=_(option.name), value=defaults.shown(chosen)
            )
        await self._edit(interaction, edit, done)

    @defaults_.autocomplete("value")
    async def default_values(
        self, interaction: discord.Interaction[WanBot], current: str
    ) -> list[app_commands.Choice[str]]:
        model = getattr(interaction.namespace, "model", None)
        option = getattr(interaction.namespace, "option", None)
        if model not in MODEL_IDS or option not in defaults.DEFAULTABLE:
            return []
        spec = resolve(model, self.bot.settings)
        if option not in defaults.defaultable(spec):
            return []
        words = [defaults.shown(v) for v in defaults.allowed_values(spec, option) or ()]
        return [
            app_commands.Choice(name=word, value=word)
            for word in words
            if current.lower() in word.lower()
        ][:25]

    @app_commands.command(
        name="release",
        description="Release the estimate a job holds because its outcome is unknown",
    )
    @app_commands.describe(job="The job whose held estimate to release (see /usage server)")
    async def release(self, interaction: discord.Interaction[WanBot], job: int) -> None:
        assert interaction.guild is not None
        found = await self.bot.store.get_job(job)
        if found is None or found.guild_id != interaction.guild.id:
            raise UserFacingError(not_on_this_server(job))
        if not found.holds_estimate:
            raise UserFacingError(why_nothing_held(found))
        released = await self.bot.store.release_hold(found.id, interaction.user.id, time.time())
        if released is None:  # released (or settled) since it was read
            raise UserFacingError(why_nothing_held(await self.bot.store.get_job(job) or found))
        await interaction.response.send_message(
            released_text(released),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        await post_audit(
            self.bot,
            interaction.guild.id,
            "Held estimate released",
            user_id=released.user_id,
            model_id=released.model_id,
            cost=format_usd(released.estimated_cost),
            note=f"job #{released.id}; released by <@{interaction.user.id}>",
        )

    @release.autocomplete("job")
    async def release_choices(
        self, interaction: discord.Interaction[WanBot], current: str
    ) -> list[app_commands.Choice[int]]:
        # Autocomplete skips interaction_check: the held jobs are for staff's eyes only.
        if interaction.guild is None or not is_staff(interaction):
            return []
        held = await self.bot.store.held_jobs(guild_id=interaction.guild.id)
        return [
            app_commands.Choice(
                name=(
                    f"#{job.id} {model_title(job)} · {format_usd(job.estimated_cost)}: "
                    f"{job.request.get('prompt', '')}"
                )[:100],
                value=job.id,
            )
            for job in held
            if current.strip() in str(job.id)
        ][:25]


async def setup(bot: WanBot) -> None:
    await bot.add_cog(Admin(bot))
