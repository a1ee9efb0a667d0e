"""Stacks: one per deployable unit; they wire the constructs and add the grants."""
