"""Brain-guided image synthesis: a differentiable image-to-voxel encoder guides a diffusion model.

- `neuroalign.diffusion.encoder`: fit a voxel-wise ridge encoder on a vision model's image
  features (`fit_encoder`) and load it as a differentiable torch module (`load_encoder`).
- `neuroalign.diffusion.objectives`: what guidance raises (an ROI's mean, weighted voxels, a
  contrast A - lambda B).
- `neuroalign.diffusion.guidance` and `neuroalign.diffusion.sampler`: an own sampling loop over
  diffusers parts with BrainDiVE's guidance step.
- `neuroalign.diffusion.synthesize`: the stage writing guided and unguided images per seed.
"""
