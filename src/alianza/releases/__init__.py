"""Releases of records to the partner through the release gate, their review, recalls, and partner requests."""
