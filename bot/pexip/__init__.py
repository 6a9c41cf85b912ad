"""The Pexip Infinity management API: client, commands, reads and typed errors.

Nothing here imports Slack: the web process and the clock share this package.
"""
