"""Weir's embedded local runtime: the same template.yaml, run on one machine with no AWS account."""
