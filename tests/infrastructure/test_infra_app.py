"""The app's settings: read from `cdk.json` context, rejected with the key that is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from infrastructure import read_config
from walkout.config import ConfigError, DeploymentConfig

ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = ROOT / "cdk.json"


def test_cdk_json_spells_out_the_config_defaults() -> None:
    walkout = json.loads(CDK_JSON.read_text())["context"]["walkout"]

    assert walkout == DeploymentConfig().model_dump(mode="json")


def test_cdk_json_runs_the_app_from_the_venv() -> None:
    assert json.loads(CDK_JSON.read_text())["app"] == ".venv/bin/python app.py"


def test_bad_context_value_names_the_key(cdk_context: Callable[..., dict[str, Any]]) -> None:
    app = App(context=cdk_context({"review_threshold": 2}))

    with pytest.raises(ConfigError, match=r"^walkout\.review_threshold: "):
        read_config(app)


def test_nested_bad_context_value_names_the_full_path(
    cdk_context: Callable[..., dict[str, Any]],
) -> None:
    app = App(context=cdk_context({"stream": {"capacity_mode": "burst"}}))

    with pytest.raises(ConfigError, match=r"^walkout\.stream\.capacity_mode: "):
        read_config(app)


def test_context_given_as_a_json_string_on_the_command_line() -> None:
    app = App(context={"walkout": '{"stage": "prod", "evidence_retention_days": 7}'})

    config = read_config(app)

    assert (config.stage, config.evidence_retention_days) == ("prod", 7)


def test_context_that_is_not_json_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^walkout: not a JSON object"):
        read_config(App(context={"walkout": "stage=prod"}))


def test_app_py_exits_with_one_line_naming_the_key(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({"walkout": {"review_threshold": 2}}),
        "CDK_OUTDIR": str(tmp_path),
    }

    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("walkout: walkout.review_threshold: ")
    assert not list(tmp_path.iterdir())  # nothing synthesized


def test_outputs_name_the_stream_tables_and_bucket(synthesized: Any) -> None:
    template: Template = synthesized.template
    outputs = template.find_outputs("*")

    assert outputs["StreamName"]["Value"] == {"Ref": synthesized.logical_id("AWS::Kinesis::Stream")}
    assert outputs["StreamArn"]["Value"] == {
        "Fn::GetAtt": [synthesized.logical_id("AWS::Kinesis::Stream"), "Arn"]
    }
    for key, table in synthesized.stack.state.tables.items():
        logical_id = synthesized.stack.get_logical_id(table.node.default_child)
        assert outputs[f"{key.capitalize()}TableName"]["Value"] == {"Ref": logical_id}
    bucket = synthesized.stack.evidence.bucket
    assert outputs["EvidenceBucketName"]["Value"] == {
        "Ref": synthesized.stack.get_logical_id(bucket.node.default_child)
    }
