from typing import Any

import pytest

from bizmodel.report.demo import demo_report_data


@pytest.fixture(scope="session")
def demo_data() -> dict[str, Any]:
    """Inputs for every section, from a small simulated market (about a second)."""
    return demo_report_data(days=14, seed=0)
