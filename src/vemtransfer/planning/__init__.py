"""Plans as data (nnU-Net's fingerprint -> plans): what a prepared task's volume is (voxel size,
sections, intensities, object sizes, which sections are labelled) and the training choices that
follow from it (window, depth, planar levels, batch, steps, sampling), written to ``plan.json``
with a reason per choice; every choice can be pinned in the config."""
