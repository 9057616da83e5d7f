"""Assertions on the synthesized CloudFormation template."""
