"""Live meetings: the event sink's door (`receiver`), what an envelope says (`envelope`), the
state kept from events (`records`, kept while it may change: `retention`) and coalesced
message edits (`coalesce`)."""
