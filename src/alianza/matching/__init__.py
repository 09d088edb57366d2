"""Matching: name normalisation (Spanish and English), entity resolution, and review of its candidates.

- ``names``: normalisation, name parts, hypocorisms, phonetic and blocking keys, company legal forms.
- ``features``: comparisons cut by kind (names, dates, identifiers, country, place), each answering a level.
- ``resolution``: blocking, the ``alianza-fs-v1`` Fellegi–Sunter model (EM-estimated), clustering,
  explanations; ``candidates``/``decide`` for analysts' review (``models.MatchDecision``).
- ``generator``: deterministic Spanish-name test data with ground truth, for tests and benchmarks.
"""
