"""The two Lambda layers every function uses: Walkout's own `walkout` package and its
third-party dependencies, both for Python 3.12 on arm64 (Graviton).

The deps layer is built by `make layers` with pip for the Lambda platform (no Docker), so a
synth without it would ship an empty layer; it fails instead, saying what to run.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from walkout.config import DeploymentConfig

LAYERS_DIR = Path(__file__).resolve().parent.parent / "layers"
COMMON_LAYER_DIR = LAYERS_DIR / "common"
DEPS_LAYER_DIR = LAYERS_DIR / "deps"

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64

# Lambda unpacks a layer into /opt; only `python/walkout` belongs on the import path.
COMMON_EXCLUDES = ["pyproject.toml", "*.egg-info", "__pycache__", "*.pyc"]
# `bin/` holds console scripts pip wrote with this machine's interpreter path.
DEPS_EXCLUDES = ["requirements.txt", ".built-stamp", "python/bin", "__pycache__", "*.pyc"]


class DepsLayerNotBuiltError(RuntimeError):
    """The deps layer directory is missing: `make layers` has not run."""


class SharedLayers(Construct):
    """`common` (the walkout package) and `deps` (powertools, pydantic, aws-kinesis-agg)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        common_dir: Path = COMMON_LAYER_DIR,
        deps_dir: Path = DEPS_LAYER_DIR,
    ) -> None:
        super().__init__(scope, construct_id)
        if not (deps_dir / "python").is_dir():
            raise DepsLayerNotBuiltError(
                f"the deps layer is not built ({deps_dir / 'python'} is missing): "
                "run `make layers` first"
            )
        self.common = lambda_.LayerVersion(
            self,
            "Common",
            layer_version_name=f"{config.prefix}-common",
            description="Walkout's shared domain package `walkout`",
            code=lambda_.Code.from_asset(str(common_dir), exclude=COMMON_EXCLUDES),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
        )
        self.deps = lambda_.LayerVersion(
            self,
            "Deps",
            layer_version_name=f"{config.prefix}-deps",
            description="Third-party packages for Walkout's functions (built by make layers)",
            code=lambda_.Code.from_asset(str(deps_dir), exclude=DEPS_EXCLUDES),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
        )
