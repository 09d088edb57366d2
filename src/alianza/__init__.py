"""Alianza: the software of the US–Mexico security-cooperation mechanism."""

__version__ = "0.1.0"
