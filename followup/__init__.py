"""Proactive follow-ups (F1-F4), no Rasa import: durable jobs in a database,
a scheduler loop that claims due jobs under a lease so each fires once even
with several desk processes, quiet hours, opt-out, a per-shopper rate limit,
the policy guard on every message, and pluggable outbound channels.

    from followup import FollowupConfig, Scheduler, open_followup_db
    db = await open_followup_db(config.db_url)
    scheduler = Scheduler(config, db, channel, shop=backend, clock=clock)
    await scheduler.scan(); await scheduler.tick()
"""

from followup.channels import BotNotifier, Delivery, OutboundChannel, PlatformMessageChannel
from followup.config import FollowupConfig, load_config
from followup.db import open_followup_db
from followup.quiet import QuietHours
from followup.render import Renderer
from followup.scheduler import JobKind, JobState, PromiseState, Scheduler

__all__ = [
    "BotNotifier",
    "Delivery",
    "FollowupConfig",
    "JobKind",
    "JobState",
    "OutboundChannel",
    "PlatformMessageChannel",
    "PromiseState",
    "QuietHours",
    "Renderer",
    "Scheduler",
    "load_config",
    "open_followup_db",
]
