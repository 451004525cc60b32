"""Sample data: what the project generates itself (for the demo and tests), and public data
sets shaped as a product would have logged them."""

from bizmodel.datasets.headlines import financial_headlines
from bizmodel.datasets.hillstrom import hillstrom_api_events, hillstrom_event_log

__all__ = ["financial_headlines", "hillstrom_api_events", "hillstrom_event_log"]
