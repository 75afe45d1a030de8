"""Asset families, one module each; functions stay thin and call into core/."""
