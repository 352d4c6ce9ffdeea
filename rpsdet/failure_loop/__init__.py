"""The failure loop after round 1: mine the slice where the model fails (mine), augment the training images in it
into a new training-set version (ops, augment), and compare the rounds on that slice (compare)."""
