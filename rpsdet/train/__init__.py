"""Training: albumentations data pipeline, the effdet loop, dvclive logging."""
