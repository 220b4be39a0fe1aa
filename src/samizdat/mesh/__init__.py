"""mesh layer (see shared/DESIGN.md)."""
