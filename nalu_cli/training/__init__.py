"""Training: the batched trainer, its loop, the optimiser, the preconditioner and evaluation."""
