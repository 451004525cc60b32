"""Simulated data with known ground truth: a market under an A/B test (:mod:`.market`)."""
