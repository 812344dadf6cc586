"""Security tests of issue 8: the access matrix, abuse limits, secrets and tokens."""
