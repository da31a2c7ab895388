"""The learning loop (issue 7): outcomes of suggestions, datasets, fine-tuning jobs, the
evaluation gate and the per-workspace model registry the assistant reads."""
