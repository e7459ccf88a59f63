"""Locust load tests, load shapes, the reconciliation report and the capacity planner."""
