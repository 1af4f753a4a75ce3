"""Exporters: arrays and plain metadata in, files out (no torch, no volviz)."""
