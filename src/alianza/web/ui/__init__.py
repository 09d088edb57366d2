"""Server-rendered bilingual pages."""
