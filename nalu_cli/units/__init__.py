"""Neural arithmetic units: layers batched over seeds (a leading seed dimension S on every parameter)."""
