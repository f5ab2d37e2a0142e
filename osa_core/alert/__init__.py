"""Alerts that reach a person: incidents kept in the night ledger, each announced once and cleared once.

The entry point is :func:`osa_core.alert.reconcile.reconcile`; :mod:`osa_core.alert.checks` adds
the conditions that are not the autopilot's own decisions (disk space, a night left open).
"""
