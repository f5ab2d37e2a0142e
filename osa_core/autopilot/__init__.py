"""The autopilot: one idempotent pass that does what each night needs next, and says why."""
