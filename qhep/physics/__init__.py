"""Collider physics that generation, file formats and tasks share: jet clustering and substructure."""
