"""Contact checks: a coordinator asks the municipality about one dwelling; two outcomes only."""
