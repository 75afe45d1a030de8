"""Evidence extractors: pure functions from bytes to records, each with its own version."""
