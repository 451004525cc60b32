"""The web app for the people who run the business: ``bizmodel dashboard --project DIR``.

Server-rendered pages (FastAPI + Jinja, Plotly served from the installed package, no build
step, no CDN) read the project's store and registry live:

* ``/`` — Overview: KPI tiles over the last 7, 30 or 90 days with the change since the
  period before, and the alerts;
* ``/experiments`` and ``/experiments/{name}`` — every experiment's arms, exposures and
  sample-ratio check, and per metric the numbers of ``bizmodel ab-test --experiment``;
* ``/models`` — registered versions: quality, inference cost with hardware and spread, stage;
* ``/business`` — what-if levers evaluated by ``bizmodel evaluate-plan`` against the
  optimizer's recommendation (``POST /api/whatif`` for the same as JSON);
* ``/monitoring`` — drift per feature (model output, text length, embeddings on request) with
  the bins its PSI compares, thresholds and pass/fail, and the model's KPIs that have data
  (``GET /api/monitoring`` for the same as JSON);
* ``/live/`` — the one-page report, refreshed (:mod:`bizmodel.report.dashboard`).

Every page honours the filters of :mod:`bizmodel.webapp.filters` (``days=7|30|90`` or
``from``/``to``, and ``segment=EXPERIMENT=ARM`` or ``PROPERTY=VALUE``), kept in its links.
Reads need a ``read`` key when ``server.read_requires_key`` (``/login`` keeps one in a cookie);
promoting needs ``admin``. ``bizmodel serve --dashboard`` (``[server] dashboard = true``)
mounts the app at ``/app/`` of the HTTP API.

Numbers are formatted by :mod:`bizmodel.report.formatting`, as in the HTML report.
"""

from bizmodel.webapp.app import create_app

__all__ = ["create_app"]
