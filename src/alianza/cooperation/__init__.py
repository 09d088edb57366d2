"""The joint follow-up mechanism: commitments, meetings, follow-ups, indicators, the dashboard and reports."""
