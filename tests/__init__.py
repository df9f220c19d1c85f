"""qhep test suite (a package, so `tests.*` never resolves to a dependency that ships its own `tests`)."""
