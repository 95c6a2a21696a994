"""Sources: one module per backend, each the only importer of its library."""
