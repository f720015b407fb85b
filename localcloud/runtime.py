"""The local runtime: moto in server mode in this process, with the stack deployed into it
and Lambda dispatched to the real handlers.

`LocalCloud.start()` starts a `ThreadedMotoServer` on a free loopback port (a real HTTP
endpoint other processes, like the edge daemon, can use), turns on moto's Step Functions
interpreter and Docker-free Lambda, points this process's boto3 at the endpoint, deploys
every resource (`localcloud.deploy`) once, and installs the dispatcher
(`localcloud.dispatch`). `stop()` stops the server; moto's state lives in this process,
so a `start()` after a `stop()` serves the same resources again (on the same port when it
is still free), which is what a restart of the runtime resumes from.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import urllib.request
import warnings
from collections.abc import Callable
from typing import IO, Any

import boto3
from botocore.config import Config
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from localcloud import moto_speed
from localcloud.deploy import Deployment, deploy
from localcloud.dispatch import Dispatcher, install
from localcloud.operations import UNCOUNTED_AGENT, CountingApp, OperationCounter
from walkout import observability
from walkout.config import DeploymentConfig
from walkout.data import dynamo
from walkout.settings import get_settings

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
HOST = "127.0.0.1"
# Credentials moto accepts; never real ones (the runtime clears any AWS_* it inherits).
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
# Powertools inside the in-process functions: no X-Ray, no EMF lines on stdout.
FUNCTION_RUNTIME_ENV = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}
# What the functions make through `walkout.data.dynamo.client`.
FUNCTION_CLIENTS = ("dynamodb", "stepfunctions", "events", "s3", "sqs", "sns")
_CLIENT_CONFIG = Config(
    user_agent_extra=UNCOUNTED_AGENT,
    retries={"max_attempts": 5, "mode": "standard"},
    connect_timeout=3,
    read_timeout=30,
)


class _Server(ThreadedMotoServer):
    """moto's threaded server with the operation counter in front of its WSGI app."""

    def __init__(self, counter: OperationCounter, port: int) -> None:
        super().__init__(ip_address=HOST, port=port, verbose=False)
        self.counter = counter

    def _server_entry(self) -> None:
        app = CountingApp(DomainDispatcherApplication(create_backend_app), self.counter)
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


class LocalCloud:
    """The emulated account, its deployment and the in-process functions."""

    def __init__(
        self,
        config: DeploymentConfig,
        *,
        function_log: IO[str] | None = None,
        port: int = 0,
    ) -> None:
        self.config = config
        self.port = port
        self.counter = OperationCounter()
        self.dispatcher = Dispatcher(
            prefix=config.prefix, memory_mb={"ingest": config.ingest.memory_mb}
        )
        self.deployment: Deployment | None = None
        self.undelivered: list[tuple[str, str]] = []
        self._function_log = function_log
        self._server: _Server | None = None
        self._restore: Callable[[], None] | None = None
        self._restore_moto: Callable[[], None] | None = None
        self._saved_env: dict[str, str] | None = None
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def client(self, service: str) -> Any:
        """A boto3 client for the runtime's own calls (not counted as the store's work); one
        per service and endpoint, made under a lock (making clients is not thread-safe,
        using them is)."""
        key = (service, self.endpoint)
        with self._clients_lock:
            if key not in self._clients:
                self._clients[key] = boto3.session.Session().client(
                    service,
                    endpoint_url=self.endpoint,
                    region_name=REGION,
                    aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                    config=_CLIENT_CONFIG,
                )
            return self._clients[key]

    def start(self) -> Deployment:
        if self._server is not None:
            raise RuntimeError("the local cloud is already running")
        # One line per request from werkzeug, and Powertools' warning about invocations
        # without metrics, would drown everything else.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        if self._restore_moto is None:
            self._restore_moto = moto_speed.install()
        server = _Server(self.counter, self.port)
        server.start()
        self._server = server
        self.port = server.get_host_and_port()[1]
        if self.deployment is None:
            # A fresh account: nothing left over from an earlier runtime in this process.
            self._moto_api("reset", None)
        self._moto_api("config", MOTO_CONFIG)
        self._environment()
        if self.deployment is None:
            self.deployment = deploy(self.client, self.config, REGION, ACCOUNT)
        os.environ.update(self.deployment.environment)
        get_settings.cache_clear()
        self._restore = install(
            self.dispatcher,
            topic_arn=self.deployment.topic_of,
            on_undelivered=self._undelivered,
        )
        return self.deployment

    def _moto_api(self, path: str, body: Any) -> None:
        request = urllib.request.Request(  # noqa: S310 - our own loopback URL
            f"{self.endpoint}/moto-api/{path}",
            data=json.dumps(body).encode() if body is not None else b"",
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - our loopback URL
            pass

    def _environment(self) -> None:
        """This process's AWS settings: the local endpoint and credentials only."""
        if self._saved_env is None:
            self._saved_env = dict(os.environ)
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[key]
        os.environ.update(LOCAL_CREDENTIALS)
        os.environ.update(FUNCTION_RUNTIME_ENV)
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint
        # moto's state machine interpreter calls Lambda at localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        dynamo.client.cache_clear()
        # The functions share `dynamo.client`'s clients; made here, on one thread, because
        # making clients from the server's request threads at once is not thread-safe.
        for service in FUNCTION_CLIENTS:
            dynamo.client(service)
        if self._function_log is not None:
            handler = observability.logger.logger_handler
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(self._function_log)

    def _undelivered(self, function_name: str, message: str, error: bytes) -> None:
        """An SNS delivery that failed every attempt goes to the function's dead-letter
        queue, as the stack configures for the Ground Truth result function."""
        self.undelivered.append((function_name, error.decode(errors="replace")))
        if self.deployment is not None:
            self.client("sqs").send_message(
                QueueUrl=self.deployment.review_result_failure_queue, MessageBody=message
            )

    def stop(self) -> None:
        """Stop serving; the emulated account keeps its state in this process."""
        if self._restore is not None:
            self._restore()
            self._restore = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._restore_moto is not None:
            self._restore_moto()
            self._restore_moto = None
        dynamo.client.cache_clear()

    def close(self) -> None:
        """Stop and give this process its environment back."""
        self.stop()
        if self._saved_env is not None:
            os.environ.clear()
            os.environ.update(self._saved_env)
            self._saved_env = None
        dynamo.client.cache_clear()
        get_settings.cache_clear()
        if self._function_log is not None:
            handler = observability.logger.logger_handler
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(sys.stdout)
