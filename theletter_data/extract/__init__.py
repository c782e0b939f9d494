"""Reading the app database directly (an alternative to its nightly exports)."""
