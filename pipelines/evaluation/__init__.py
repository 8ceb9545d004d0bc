"""Evidence that a model is better: intervals, paired comparisons on the same rows (stats, compare)."""
