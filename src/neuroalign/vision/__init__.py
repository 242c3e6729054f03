"""Vision: image and VLM units against visual cortex, and fMRI -> embedding -> image decoding.

Stages (each a function taking a typed settings object and paths, as in the other analyses):
voxel-wise encoding of vision fMRI from image features per ROI, decoding of image embeddings
from voxels with retrieval and identification, reconstruction through an unCLIP-style diffusers
pipeline, and the field's image metrics.
"""
