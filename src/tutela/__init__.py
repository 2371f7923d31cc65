"""Tutela: child protection case management for country teams that host their own server."""

__version__ = "0.1.0"
