"""The HTML report and the live dashboard.

* :mod:`.sections` — section builders: plain data in, titled Plotly figures out;
* :func:`build_report` — one self-contained HTML file;
* :func:`bizmodel.report.dashboard.create_dashboard_app` — the same views, live.

Plotly and Jinja are imported only when a report is built, so importing this is cheap.
"""

from bizmodel.report.html import build_report, write_atomic
from bizmodel.report.sections import Section, sections_from_data

__all__ = ["Section", "build_report", "sections_from_data", "write_atomic"]
