"""Readers: each maps one file format onto the model (``Workload``s with locations)."""
