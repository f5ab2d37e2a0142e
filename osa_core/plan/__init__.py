"""Night files and the planner: from a night's run list to sequences."""
