"""Methods: one small function per equation (LLM, training, Monte Carlo)."""
