"""The only place that knows effdet's conventions (yxyx targets, 1-based classes, letterboxed input)."""
