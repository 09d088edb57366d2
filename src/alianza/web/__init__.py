"""The node's web face: the JSON API under /api/v1 and the server-rendered bilingual UI. Thin: it calls domains."""
