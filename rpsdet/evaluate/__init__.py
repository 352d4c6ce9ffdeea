"""Evaluation: pycocotools COCO metrics over a canonical dataset."""
