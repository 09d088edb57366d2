"""Controlled vocabularies (areas, agencies, statuses, principles, roles) loaded from YAML data files.

Vocabularies are data, not code, so that the implementation group can add an agency or rename an area
without a release; they are validated once at load so that a bad file stops the node at start-up with a
message naming the file and entry, not later in a request.
"""

from alianza.vocab.loader import Agency, Area, Principle, Role, Status, Vocabulary, vocabulary

__all__ = ["Agency", "Area", "Principle", "Role", "Status", "Vocabulary", "vocabulary"]
