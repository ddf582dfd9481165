"""Sweeps: grid files, the plan of tasks, executors (local processes, Ray), and the in-process benchmark."""
