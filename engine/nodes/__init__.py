"""Node types: their declarations (specs) and, with later modules, their implementations."""
