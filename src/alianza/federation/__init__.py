"""Federation between sovereign nodes: what crosses between them, and only through the outbox."""
