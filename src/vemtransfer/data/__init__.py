"""Data, from the wire to training batches: downloads (resumable, checksummed), the datasets (one
module per kind of source, all written to one section store), volume readers, synthetic tissues,
preparation (CLAHE, blur, rescale, splits), voxel spacing, file checks of local volumes and the
training patches and budgets."""
