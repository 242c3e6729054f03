"""Model sources, layer discovery, hooks and activation extraction."""
