"""Run storage: checkpoints, run directories with their lock and writer, the run catalogue, TensorBoard export."""
