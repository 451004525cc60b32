"""Monitoring: KPIs over time windows, input and prediction drift, alert rules.

Everything here works on plain pandas frames and numpy arrays, so the event store, the server
and the report can all feed it. See :mod:`bizmodel.monitor.kpi`, :mod:`bizmodel.monitor.drift`
and :mod:`bizmodel.monitor.alerts`.
"""
