"""Placeholder: filled in by its family's codecs."""
