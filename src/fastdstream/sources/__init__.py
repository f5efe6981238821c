"""Input streams: one module per kind of source."""
