"""A generic local runtime built from a synthesized CloudFormation template (moto + an ASGI server)."""
