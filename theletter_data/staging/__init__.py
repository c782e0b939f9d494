"""Staging layer: typed, deduplicated, pseudonymised tables, one partition per Japan-time day."""
