"""Where language models and brains diverge: per-word encoding errors contrasted across word
categories, hypotheses about what the worst-predicted words share, and fine-tuned vs base models.
"""
