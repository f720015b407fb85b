#!/usr/bin/env python3
"""The CDK app: `cdk synth` / `cdk deploy` build one Walkout stack from `cdk.json` context.

A stage other than the default: `cdk deploy -c walkout='{"stage": "prod"}'`.
"""

from __future__ import annotations

import os
import sys

from aws_cdk import App, Aspects, Environment
from cdk_nag import AwsSolutionsChecks

from infrastructure import WalkoutStack, read_config
from infrastructure.layers import DepsLayerNotBuiltError
from walkout.config import ConfigError


def main() -> int:
    app = App()
    try:
        config = read_config(app)
        WalkoutStack(
            app,
            config.prefix,
            config=config,
            env=Environment(
                account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
                region=os.environ.get("CDK_DEFAULT_REGION"),
            ),
        )
    except (ConfigError, DepsLayerNotBuiltError) as exc:
        print(f"walkout: {exc}", file=sys.stderr)
        return 1
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
