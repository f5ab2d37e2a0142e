"""Tracking a night: the ledger, folding scheduler answers into snapshots, action previews, the night lock."""
