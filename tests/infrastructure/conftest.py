"""One synthesis of the real stack per test session (a synth costs seconds here), with the
same context `cdk synth` gets from `cdk.json` and the same cdk-nag checks as `app.py`.

Tests that vary a setting synthesize only the construct concerned, in a small stack.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Before jsii starts Node: its end-of-life banner is noise in every test run.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

import pytest
from aws_cdk import App, Aspects, Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from infrastructure import WalkoutStack, read_config
from walkout.config import DeploymentConfig

ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = ROOT / "cdk.json"


def _cdk_context(walkout: dict[str, Any] | None = None) -> dict[str, Any]:
    context: dict[str, Any] = json.loads(CDK_JSON.read_text())["context"]
    if walkout is not None:
        context = {**context, "walkout": walkout}
    return context


@pytest.fixture(scope="session")
def cdk_context() -> Callable[..., dict[str, Any]]:
    """`cdk.json`'s context (feature flags included), its `walkout` object replaced if given."""
    return _cdk_context


@dataclass(frozen=True)
class Synthesized:
    stack: WalkoutStack
    template: Template
    assembly_dir: Path

    @property
    def config(self) -> DeploymentConfig:
        return self.stack.config

    def logical_id(self, resource_type: str, props: dict[str, Any] | None = None) -> str:
        """The logical id of the one resource of that type (and those properties)."""
        matches = self.template.find_resources(
            resource_type, {"Properties": props} if props else None
        )
        assert len(matches) == 1, f"{resource_type} {props}: {sorted(matches)}"
        return next(iter(matches))


@pytest.fixture(scope="session")
def synthesized() -> Synthesized:
    app = App(context=_cdk_context())
    config = read_config(app)
    stack = WalkoutStack(app, config.prefix, config=config)
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    assembly = app.synth()
    return Synthesized(stack, Template.from_stack(stack), Path(assembly.directory))


@pytest.fixture(scope="session")
def template(synthesized: Synthesized) -> Template:
    return synthesized.template


@pytest.fixture(scope="session")
def key_arn(synthesized: Synthesized) -> dict[str, Any]:
    """How the stack refers to its data key's ARN."""
    return {"Fn::GetAtt": [synthesized.logical_id("AWS::KMS::Key"), "Arn"]}


Build = Callable[[Stack, DeploymentConfig, kms.IKey], object]


@pytest.fixture
def synth_construct() -> Callable[..., Template]:
    """Synthesize a small stack with only the construct `build` adds, under `settings`."""

    def synth(build: Build, **settings: Any) -> Template:
        app = App(context=_cdk_context())
        stack = Stack(app, "Probe")
        config = DeploymentConfig.from_context(settings)
        build(stack, config, kms.Key(stack, "Key"))
        return Template.from_stack(stack)

    return synth
