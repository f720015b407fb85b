"""The common and deps layers: Python 3.12 on arm64, only what belongs on the import path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack

from infrastructure.layers import DepsLayerNotBuiltError, SharedLayers
from walkout.config import DeploymentConfig


def _layers(synthesized: Any) -> dict[str, dict[str, Any]]:
    """Layer properties by layer name suffix (`common`, `deps`)."""
    prefix = synthesized.config.prefix + "-"
    return {
        layer["Properties"]["LayerName"].removeprefix(prefix): layer["Properties"]
        for layer in synthesized.template.find_resources("AWS::Lambda::LayerVersion").values()
    }


def _asset_dir(synthesized: Any, layer: dict[str, Any]) -> Path:
    asset_hash = layer["Content"]["S3Key"].removesuffix(".zip")
    return Path(synthesized.assembly_dir) / f"asset.{asset_hash}"


def test_both_layers_are_for_python_312_on_arm64(synthesized: Any) -> None:
    layers = _layers(synthesized)

    assert sorted(layers) == ["common", "deps"]
    for props in layers.values():
        assert props["CompatibleRuntimes"] == ["python3.12"]
        assert props["CompatibleArchitectures"] == ["arm64"]


def test_common_layer_holds_only_the_walkout_package(synthesized: Any) -> None:
    asset = _asset_dir(synthesized, _layers(synthesized)["common"])

    assert sorted(p.name for p in asset.iterdir()) == ["python"]
    assert sorted(p.name for p in (asset / "python").iterdir()) == ["walkout"]
    assert (asset / "python" / "walkout" / "config.py").is_file()
    assert not list(asset.rglob("__pycache__"))


def test_deps_layer_is_the_built_python_dir(synthesized: Any) -> None:
    asset = _asset_dir(synthesized, _layers(synthesized)["deps"])

    assert sorted(p.name for p in asset.iterdir()) == ["python"]
    assert (asset / "python" / "pydantic_core").is_dir()
    assert not (asset / "python" / "bin").exists()


def test_missing_deps_layer_says_to_run_make_layers(tmp_path: Path) -> None:
    stack = Stack(App(), "Probe")

    with pytest.raises(DepsLayerNotBuiltError, match="run `make layers`"):
        SharedLayers(stack, "Layers", config=DeploymentConfig(), deps_dir=tmp_path)
