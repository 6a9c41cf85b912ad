"""The auditor of a process (`serve`, and the clock for what it audits: approvals that expire):
the audit log in DATABASE_URL, every entry also posted to AUDIT_CHANNEL when it is set, and every
secret of the settings scrubbed from what is recorded."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.slack.mrkdwn import as_mrkdwn
from bot.store.audit import Auditor, AuditStore


def auditor(settings: Settings, web: AsyncWebClient, store: AuditStore) -> Auditor:
    async def post(channel: str, text: str) -> None:
        await web.chat_postMessage(channel=channel, text=as_mrkdwn(text))

    return Auditor(
        store,
        post_to_channel=post if settings.audit_channel else None,
        channel=settings.audit_channel,
        secrets=[
            settings.slack_bot_token,
            settings.slack_signing_secret,
            settings.slack_app_token,
            settings.pexip_password,
            settings.backup_passphrase,
            settings.pexip_events_password,
        ],
    )
