"""File readers: what a model or weights file may hold, hostile and mutated files, weight paths
and matching, live models."""
