"""Failure-slice augmentation: named albumentations operations and the new training-set version they make."""
