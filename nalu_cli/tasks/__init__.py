"""Tasks: the operations and ranges, and one module per task kind that draws its seeded data."""
