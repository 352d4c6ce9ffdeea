"""Dataset validation: every input image ends up kept or quarantined with a reason (no torch here)."""
