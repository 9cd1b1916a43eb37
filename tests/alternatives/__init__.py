"""Correct implementations written differently from the reference; every grader must accept them."""
