"""Node health: the status reads (`nodes`), `/pexip status` (`render`), the alerts the clock
posts to OPS_CHANNEL (`alerts` decides, `store` remembers, `poll` runs), and the Prometheus
metrics of every process (`metrics`)."""
