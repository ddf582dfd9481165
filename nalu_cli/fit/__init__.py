"""nalu fit: a ladder of unit stacks fitted to a table, beside least-squares and MLP baselines."""
