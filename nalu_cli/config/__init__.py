"""Configs: the schema, bounded YAML loading, limits and memory budgets, presets and the recipe book. No torch."""
