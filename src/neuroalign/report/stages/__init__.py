"""One module per pipeline stage, each with ``collect(ctx) -> Page | None`` (see `pages`)."""
