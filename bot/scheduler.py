"""Where versions before the `bot/backup/` package kept the nightly job: their clocks stored it
as `bot.scheduler:nightly_backup` in DATABASE_URL. Kept so such a database still loads; the
clock then stores the job under `bot.backup.clock` (`_ensure_job`)."""

from bot.backup.clock import nightly_backup

__all__ = ["nightly_backup"]
