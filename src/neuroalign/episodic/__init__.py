"""Induction heads and human episodic memory: probes, head scores, CMR, free recall, ablation."""
