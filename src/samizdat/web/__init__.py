"""web layer (see shared/DESIGN.md)."""
