"""Channel orderings for (C, H, W) volumes: numpy in, permutation out (no torch, no h5py)."""
