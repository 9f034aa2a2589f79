"""Lowest layer: errors, paths, atomic writes, the CSV guard, progress bars, models, units."""
