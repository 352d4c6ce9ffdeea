"""Dataset formats, the canonical COCO dataset, the synthetic generator and splits (no torch here)."""
