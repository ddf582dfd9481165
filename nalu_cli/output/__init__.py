"""Output: reports as plain data, their rich rendering, text and matplotlib plots, and the JSON schema."""
