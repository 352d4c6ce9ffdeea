"""`rpsdet predict`: run a model on images, folders and videos outside the pipeline; `rpsdet export-model`."""
