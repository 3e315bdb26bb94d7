"""The handlers of the bot's buttons: Cancel, Retry, Vary, Animate, Extend, Delete, Approve, Deny.

Why this module exists: results stay in channels for days and the bot restarts in between, so
every button is a :class:`discord.ui.DynamicItem` matching the custom-id scheme of
:mod:`bot.discord_ui.views` (``wan:<action>:<job>``); ``setup_hook`` registers them once and any
old message works again. A button on a job that no longer exists answers with an
explanation, never a failure. Errors take the same path as commands' (one answer for both).

What it must never do: build a message's buttons (that is :mod:`bot.discord_ui.views`), or act
on a job for a member who may not manage it.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.discord_ui import approvals
from bot.discord_ui.checks import require_job_manager
from bot.discord_ui.errors import UserFacingError
from bot.discord_ui.extend import extend_video, video_attachment
from bot.discord_ui.generation import (
    GenerationOrder,
    cancel_generation,
    new_seed,
    order_from_job,
    result_image,
    start_generation,
)
from bot.discord_ui.translator import use_member_locale
from bot.discord_ui.tree import answer_error
from bot.discord_ui.views import Action, button, template
from bot.i18n import N_, _
from bot.jobs.records import Job

if TYPE_CHECKING:
    from bot.discord_ui.client import WanBot

log = logging.getLogger(__name__)

MODAL_TIMEOUT_SECONDS = 30 * 60


class JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"wan:x:(?P<job>\d+)"):
    """Base: parses the job id, loads the job, and routes every error to the tree's handler."""

    action = Action.CANCEL

    def __init__(self, job_id: int, *, row: int | None = None) -> None:
        super().__init__(button(self.action, job_id, row=row))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> JobButton:
        return cls(int(match["job"]))

    # As callback below: discord.py's Interaction[ClientT] cannot be narrowed to WanBot.
    async def interaction_check(self, interaction: discord.Interaction[WanBot]) -> bool:  # type: ignore[override]
        """A click runs in a task of its own: it speaks the clicking member's language."""
        use_member_locale(interaction)
        return True

    # discord.py types this generically (Interaction[ClientT]); overriding it for WanBot narrows
    # the type (an LSP [override] error), but every interaction this bot dispatches is WanBot's.
    async def callback(self, interaction: discord.Interaction[WanBot]) -> None:  # type: ignore[override]
        try:
            job = await interaction.client.store.get_job(self.job_id)
            if job is None:
                raise UserFacingError(
                    _("Job #{job} no longer exists, so there is nothing to do here.").format(
                        job=self.job_id
                    )
                )
            await self.act(interaction, job)
        except Exception as exc:  # a button has no command tree: answer here
            await answer_error(interaction, exc)

    async def act(self, interaction: discord.Interaction[WanBot], job: Job) -> None:
        raise NotImplementedError


class CancelButton(JobButton, template=template(Action.CANCEL)):
    action = Action.CANCEL

    async def act(self, interaction: discord.Interaction[WanBot], job: Job) -> None:
        require_job_manager(interaction, job, "cancel")
        await cancel_generation(interaction, job)


class RetryButton(JobButton, template=template(Action.RETRY)):
    """Run the same settings again (same seed: a retry of what failed or went missing)."""

    action = Action.RETRY
    new_seed = False

    async def act(self, interaction: discord.Interaction[WanBot], job: Job) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        order = await order_from_job(interaction.client, job)
        if self.new_seed:
            order.options["seed"] = new_seed()
        await start_generation(interaction, order)


class VaryButton(RetryButton, template=template(Action.VARY)):
    """Same settings, new seed."""

    action = Action.VARY
    new_seed = True


class DeleteButton(JobButton, template=template(Action.DELETE)):
    action = Action.DELETE

    async def act(self, interaction: discord.Interaction[WanBot], job: Job) -> None:
        require_job_manager(interaction, job, "delete")
        await interaction.response.defer(ephemeral=True, thinking=True)
        if interaction.message is not None:
            await interaction.message.delete()
        await interaction.edit_original_response(
            content=_("Deleted the result of job #{job}.").format(job=job.id)
        )


class AnimateButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=template(Action.ANIMATE)
):
    """On image results: turn one of the images into a video with /wan-i2v-flash."""

    def __init__(self, job_id: int, index: int) -> None:
        super().__init__(button(Action.ANIMATE, job_id, index=index, row=1))
        self.job_id = job_id
        self.index = index

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> AnimateButton:
        return cls(int(match["job"]), int(match["index"]))

    async def interaction_check(self, interaction: discord.Interaction[WanBot]) -> bool:  # type: ignore[override]
        use_member_locale(interaction)  # as JobButton's
        return True

    # discord.py types this generically (Interaction[ClientT]); overriding it for WanBot narrows
    # the type (an LSP [override] error), but every interaction this bot dispatches is WanBot's.
    async def callback(self, interaction: discord.Interaction[WanBot]) -> None:  # type: ignore[override]
        job = await interaction.client.store.get_job(self.job_id)
        if job is None:
            await answer_error(
                interaction,
                UserFacingError(
                    _("Job #{job} no longer exists, so there is nothing to animate.").format(
                        job=self.job_id
                    )
                ),
            )
            return
        await interaction.response.send_modal(AnimateModal(job, self.index, interaction.id))


class AnimateModal(discord.ui.Modal, title=N_("Animate this image")):
    """One per click: its ``custom_id`` carries the click's interaction id.

    discord.py routes a submit by the modal's ``custom_id`` alone, so a shared one (two members
    animating the same image) sent one member's submit to the other's modal: dropped once that
    modal was done, or read back with the other member's text. The prompt is taken from the
    submit's own payload before any await. A modal closed without submitting is forgotten after
    ``MODAL_TIMEOUT_SECONDS``.
    """

    prompt: discord.ui.TextInput[AnimateModal] = discord.ui.TextInput(
        label=N_("How should it move?"),
        style=discord.TextStyle.paragraph,
        max_length=800,
        placeholder=N_("The camera slowly pushes in as leaves drift past"),
    )

    def __init__(self, job: Job, index: int, click_id: int) -> None:
        super().__init__(
            custom_id=f"wan:animate-modal:{job.id}:{index}:{click_id}",
            timeout=MODAL_TIMEOUT_SECONDS,
        )
        self.job = job
        self.index = index
        # Built in the click's task, in the clicking member's language.
        self.title = _(self.title)
        self.prompt.label = _(self.prompt.label)
        self.prompt.placeholder = _(self.prompt.placeholder)

    async def interaction_check(self, interaction: discord.Interaction[WanBot]) -> bool:  # type: ignore[override]
        use_member_locale(interaction)  # the submit is an interaction (and a task) of its own
        return True

    # As JobButton.callback: discord.py's Interaction[ClientT] cannot be narrowed to WanBot.
    async def on_submit(self, interaction: discord.Interaction[WanBot]) -> None:  # type: ignore[override]
        prompt = submitted_text(interaction, self.prompt.custom_id)
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            image = await result_image(interaction, self.job, self.index)
            await start_generation(
                interaction,
                GenerationOrder(
                    model_id="wan2.2-i2v-flash",
                    options={"prompt": prompt},
                    images={"image": [image]},
                    parent_job_id=self.job.id,
                ),
            )
        except Exception as exc:
            await answer_error(interaction, exc)


class ExtendButton(JobButton, template=template(Action.EXTEND)):
    """On video results: a prompt, then the next clip from this one's last frame
    (:mod:`bot.discord_ui.extend`)."""

    action = Action.EXTEND

    async def act(self, interaction: discord.Interaction[WanBot], job: Job) -> None:
        if job.unit != "second":
            raise UserFacingError(
                _("Job #{job} made images, not a video: use Animate instead.").format(job=job.id)
            )
        message = interaction.message
        video = video_attachment(message)
        await interaction.response.send_modal(
            ExtendModal(
                job,
                interaction.id,
                result_message_id=None if message is None else message.id,
                video=video,
            )
        )


class ExtendModal(discord.ui.Modal, title=N_("Extend this video")):
    """One per click, as :class:`AnimateModal` (its ``custom_id`` carries the click's id).

    The prompt is prefilled with the extended job's own: an extension usually goes on with the
    same scene, and a member changes a word or two more easily than they retype it (the field
    stays editable, and is checked against this server's rules as typed).
    """

    prompt: discord.ui.TextInput[ExtendModal] = discord.ui.TextInput(
        label=N_("What happens next?"),
        style=discord.TextStyle.paragraph,
        max_length=2000,  # wan2.6-i2v's limit; flash's 800 is checked when it is priced
        placeholder=N_("The camera keeps rising as the city lights come on"),
    )

    def __init__(
        self,
        job: Job,
        click_id: int,
        *,
        result_message_id: int | None,
        video: discord.Attachment | None,
    ) -> None:
        super().__init__(
            custom_id=f"wan:extend-modal:{job.id}:{click_id}", timeout=MODAL_TIMEOUT_SECONDS
        )
        self.job = job
        self.result_message_id = result_message_id
        self.video = video
        # Built in the click's task, in the clicking member's language.
        self.title = _(self.title)
        self.prompt.label = _(self.prompt.label)
        self.prompt.placeholder = _(self.prompt.placeholder)
        before = job.request.get("prompt")
        if isinstance(before, str) and before.strip():
            self.prompt.default = before[: self.prompt.max_length]

    async def interaction_check(self, interaction: discord.Interaction[WanBot]) -> bool:  # type: ignore[override]
        use_member_locale(interaction)  # the submit is an interaction (and a task) of its own
        return True

    # As JobButton.callback: discord.py's Interaction[ClientT] cannot be narrowed to WanBot.
    async def on_submit(self, interaction: discord.Interaction[WanBot]) -> None:  # type: ignore[override]
        prompt = submitted_text(interaction, self.prompt.custom_id)
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await extend_video(
                interaction,
                self.job,
                prompt,
                result_message_id=self.result_message_id,
                video=self.video,
            )
        except Exception as exc:
            await answer_error(interaction, exc)


class ApproveButton(JobButton, template=template(Action.APPROVE)):
    """Under a request for approval: staff send the job on (:mod:`bot.discord_ui.approvals`)."""

    action = Action.APPROVE

    async def act(self, interaction: discord.Interaction[WanBot], job: Job) -> None:
        await approvals.decide(interaction, job, approve=True)


class DenyButton(JobButton, template=template(Action.DENY)):
    """Under a request for approval: staff release the job, and its member is told."""

    action = Action.DENY

    async def act(self, interaction: discord.Interaction[WanBot], job: Job) -> None:
        await approvals.decide(interaction, job, approve=False)


def submitted_text(interaction: discord.Interaction[Any], custom_id: str) -> str:
    """What the member typed into the text input ``custom_id``, from this submit's payload
    (rows of inputs, or labels holding one)."""
    data = cast(dict[str, Any], interaction.data or {})
    pending: list[dict[str, Any]] = list(data.get("components", []))
    while pending:
        component = pending.pop()
        if component.get("custom_id") == custom_id:
            return str(component.get("value") or "")
        pending += component.get("components", [])
        if "component" in component:
            pending.append(component["component"])
    return ""


DYNAMIC_ITEMS = (
    CancelButton,
    RetryButton,
    VaryButton,
    DeleteButton,
    AnimateButton,
    ExtendButton,
    ApproveButton,
    DenyButton,
)
