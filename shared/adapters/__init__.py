"""Adapters of the domain's ports: the only place boto3, stripe and httpx are imported."""
