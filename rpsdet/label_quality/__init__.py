"""Label quality: find wrong labels. Near-duplicate pairs whose boxes disagree (no model, right after validation)
and cleanlab on out-of-sample predictions (after training), in one ranked review queue. Torch is only imported
where a model runs (predictions.py)."""
