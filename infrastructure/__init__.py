"""Walkout's CDK app: one stack (`WalkoutStack`) composed of one construct per concern."""

from infrastructure.stack import WalkoutStack, read_config

__all__ = ["WalkoutStack", "read_config"]
