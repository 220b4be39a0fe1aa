"""relay layer (see shared/DESIGN.md)."""
