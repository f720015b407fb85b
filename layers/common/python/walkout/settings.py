"""The Lambda functions' environment: its keys, shared by CDK and the functions, and one
small model per function, parsed once per container.

CDK writes a function's environment with `<Model>.environment(...)`; the function reads it
back with `get_settings(<Model>)` (validated once, cached). The handler's outermost
decorator `init_environment(<Model>)` fails the first invocation of a misconfigured
function with one line naming the variable, before anything else runs.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, TypeVar

from aws_lambda_powertools.middleware_factory import lambda_handler_decorator
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from walkout.config import DeploymentConfig

# --- keys (constants: CDK and the functions import the same names) ------------------------
ENV_STAGE: Final = "WALKOUT_STAGE"
ENV_STORES_TABLE: Final = "WALKOUT_STORES_TABLE"
ENV_SESSIONS_TABLE: Final = "WALKOUT_SESSIONS_TABLE"
ENV_INGEST_TABLE: Final = "WALKOUT_INGEST_TABLE"
ENV_FINALIZE_STATE_MACHINE_ARN: Final = "WALKOUT_FINALIZE_STATE_MACHINE_ARN"
ENV_EVENT_BUS_NAME: Final = "WALKOUT_EVENT_BUS_NAME"
ENV_REVIEW_THRESHOLD: Final = "WALKOUT_REVIEW_THRESHOLD"
ENV_READINESS_GRACE_S: Final = "WALKOUT_READINESS_GRACE_S"
ENV_DEVICE_STALE_AFTER_S: Final = "WALKOUT_DEVICE_STALE_AFTER_S"
ENV_TRANSIENT_TTL_DAYS: Final = "WALKOUT_TRANSIENT_TTL_DAYS"
ENV_STORE_CACHE_S: Final = "WALKOUT_STORE_CACHE_S"
# Powertools' own variables, set per function so logs, metrics and traces name it.
ENV_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
ENV_METRICS_NAMESPACE: Final = "POWERTOOLS_METRICS_NAMESPACE"

INGEST_SERVICE: Final = "ingest"


class SettingsError(RuntimeError):
    """A function's environment is missing a variable or holds a bad value."""


class FunctionSettings(BaseModel):
    """Base of every function's settings: read from environment variables by alias."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=False)

    @classmethod
    def from_env(cls: type[_S], env: Mapping[str, str] | None = None) -> _S:
        source = os.environ if env is None else env
        try:
            return cls.model_validate(dict(source))
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise SettingsError(f"environment {key}: {first['msg']}") from None


_S = TypeVar("_S", bound=FunctionSettings)


class IngestSettings(FunctionSettings):
    """What the ingest function needs to know about its deployment."""

    stage: Annotated[str, Field(alias=ENV_STAGE, min_length=1)]
    stores_table: Annotated[str, Field(alias=ENV_STORES_TABLE, min_length=3)]
    sessions_table: Annotated[str, Field(alias=ENV_SESSIONS_TABLE, min_length=3)]
    ingest_table: Annotated[str, Field(alias=ENV_INGEST_TABLE, min_length=3)]
    finalize_state_machine_arn: Annotated[
        str, Field(alias=ENV_FINALIZE_STATE_MACHINE_ARN, pattern=r"^arn:[^:]+:states:")
    ]
    event_bus_name: Annotated[str, Field(alias=ENV_EVENT_BUS_NAME, min_length=1)]
    review_threshold: Annotated[float, Field(alias=ENV_REVIEW_THRESHOLD, gt=0, lt=1)]
    readiness_grace_s: Annotated[float, Field(alias=ENV_READINESS_GRACE_S, ge=0)]
    device_stale_after_s: Annotated[float, Field(alias=ENV_DEVICE_STALE_AFTER_S, gt=0)] = 600.0
    transient_ttl_days: Annotated[int, Field(alias=ENV_TRANSIENT_TTL_DAYS, ge=1)]
    # Store definitions change rarely (a planogram edit): cached per container this long.
    store_cache_s: Annotated[float, Field(alias=ENV_STORE_CACHE_S, ge=0)] = 60.0

    @staticmethod
    def environment(
        config: DeploymentConfig,
        *,
        stores_table: str,
        sessions_table: str,
        ingest_table: str,
        finalize_state_machine_arn: str,
        event_bus_name: str,
    ) -> dict[str, str]:
        """The ingest function's environment, as CDK sets it (values may be CDK tokens)."""
        return {
            ENV_STAGE: config.stage,
            ENV_STORES_TABLE: stores_table,
            ENV_SESSIONS_TABLE: sessions_table,
            ENV_INGEST_TABLE: ingest_table,
            ENV_FINALIZE_STATE_MACHINE_ARN: finalize_state_machine_arn,
            ENV_EVENT_BUS_NAME: event_bus_name,
            ENV_REVIEW_THRESHOLD: repr(config.review_threshold),
            ENV_READINESS_GRACE_S: repr(config.readiness_grace_s),
            ENV_DEVICE_STALE_AFTER_S: repr(config.device_stale_after_s),
            ENV_TRANSIENT_TTL_DAYS: str(config.transient_ttl_days),
            ENV_SERVICE_NAME: INGEST_SERVICE,
            ENV_METRICS_NAMESPACE: "Walkout",
        }


@functools.cache
def get_settings(model: type[_S]) -> _S:
    """The function's settings, parsed from the environment once per container."""
    return model.from_env()


def init_environment(model: type[FunctionSettings]) -> Callable[..., Any]:
    """Handler decorator: validate the environment (once) before the handler runs."""

    @lambda_handler_decorator
    def _init(handler: Callable[..., Any], event: Any, context: Any) -> Any:
        get_settings(model)
        return handler(event, context)

    result: Callable[..., Any] = _init
    return result
