"""Evaluation: datasets, metrics, judges and reports."""
