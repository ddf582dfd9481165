"""Models: stacks of units for each task kind, batched over seeds."""
