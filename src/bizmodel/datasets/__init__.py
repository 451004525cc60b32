"""Sample data the project generates itself (for the demo and tests)."""

from bizmodel.datasets.headlines import financial_headlines

__all__ = ["financial_headlines"]
