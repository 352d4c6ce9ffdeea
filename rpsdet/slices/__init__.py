"""Failure-slice mining: choose the slice where the model fails, select the training images in it."""
