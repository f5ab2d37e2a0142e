"""Reusable widgets: each updates its own children and talks to its parent only by messages."""
