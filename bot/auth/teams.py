"""Which Slack workspaces' users may use the bot (INTERFACE §2, `SLACK_ALLOWED_TEAMS`).

A user ID is only unique inside its workspace, and Slack Connect and Enterprise Grid put users
of other workspaces in shared channels, so `"*"` in the policy must mean "everyone of *our*
workspace". The allowed teams are SLACK_ALLOWED_TEAMS, or by default the bot token's own team
(and, for an org-wide install, its enterprise), read once with `auth.test`. If Slack cannot be
asked, requests are refused (fail closed) and asked again next time.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workspace:
    """Where a request says the person comes from."""

    team_id: str = ""
    user_team_id: str = ""
    enterprise_id: str = ""

    @property
    def teams(self) -> frozenset[str]:
        return frozenset(team for team in (self.team_id, self.user_team_id) if team)

    def describe(self) -> str:
        teams = ", ".join(sorted(self.teams)) or "no team"
        return f"{teams} (enterprise {self.enterprise_id})" if self.enterprise_id else teams


class TeamGate:
    def __init__(self, web: AsyncWebClient, configured: frozenset[str] | None = None) -> None:
        self._web = web
        self._allowed = configured
        self._lock: asyncio.Lock | None = None

    async def allows(self, workspace: Workspace) -> bool:
        """Every team the request names is allowed, or its enterprise is (org-wide install)."""
        allowed = await self._allowed_teams()
        if allowed is None:
            return False
        if workspace.enterprise_id and workspace.enterprise_id in allowed:
            return True
        return bool(workspace.teams) and workspace.teams <= allowed

    async def _allowed_teams(self) -> frozenset[str] | None:
        if self._allowed is not None:
            return self._allowed
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._allowed is None:
                self._allowed = await self._own_team()
        return self._allowed

    async def _own_team(self) -> frozenset[str] | None:
        try:
            answer = await self._web.auth_test()
        except Exception as exc:  # any failure: refuse now, ask again next time
            log.warning("auth.test failed, so requests are refused until it answers: %s", exc)
            return None
        own = {str(answer.get("team_id") or "")}
        if answer.get("is_enterprise_install"):  # org-wide: every workspace of the enterprise
            own.add(str(answer.get("enterprise_id") or ""))
        return frozenset(team for team in own if team) or None
