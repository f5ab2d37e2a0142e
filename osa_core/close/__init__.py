"""Closing a night: merges as jobs, verification, the closing decision."""
