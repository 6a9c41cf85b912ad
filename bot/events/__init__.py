"""Live meetings: the event sink's door (`receiver`), what an envelope says (`envelope`), the
state kept from events (`live`) and coalesced message edits (`coalesce`)."""
