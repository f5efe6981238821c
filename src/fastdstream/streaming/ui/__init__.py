"""The live status page of a StreamingContext: statistics, HTTP server, metrics."""
