"""Users, roles, web sessions and API tokens of a node."""
