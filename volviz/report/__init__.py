"""The HTML report: one self-contained folder (index.html + images + voxel files)."""
