"""The local runtime: moto in server mode in this process, with the stack deployed into it
and Lambda dispatched to the real handlers.

`LocalCloud.start()` starts moto's server on a free loopback port (a real HTTP endpoint
other processes, like the edge daemon, can use; see `_Server`), turns on moto's Step Functions
interpreter and Docker-free Lambda, points this process's boto3 at the endpoint, deploys
every resource (`localcloud.deploy`) once, and installs the dispatcher
(`localcloud.dispatch`). `stop()` stops the server; moto's state lives in this process,
so a `start()` after a `stop()` serves the same resources again (on the same port when it
is still free), which is what a restart of the runtime resumes from.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import threading
import time
import urllib.request
import warnings
from collections.abc import Callable
from typing import IO, Any

import boto3
from botocore.config import Config
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from waitress import wasyncore
from waitress.server import create_server
from werkzeug.serving import BaseWSGIServer, make_server

from localcloud import moto_speed
from localcloud.containers import ContainerPool
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
# The endpoint's worker threads and most open connections (see `_Server`).
POOL_THREADS = 24
CONNECTION_LIMIT = 1000
# How long stopping waits for the endpoint's requests in progress.
STOP_WAIT_S = 10.0
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


class _Server:
    """moto's WSGI app, with the operation counter in front, on two loopback listeners.

    - The endpoint every client uses (the functions, the edge daemon, the pump, the
      reviewers) is served by waitress: HTTP/1.1 with keep-alive and a pool of worker
      threads. moto's own server (werkzeug's development server) closes the connection
      after every response, so each call paid for a new connection and a new thread
      (see docs/local-runtime.md for what that cost on `stadium-rush`). waitress, like
      werkzeug, drops request headers with an underscore in their name (moto's handler
      restores them for werkzeug); nothing here sends one (S3 metadata keys would).
    - The invoke listener is moto's threaded server, a thread per request. moto's Step
      Functions interpreter makes every call of a state machine there (`MOTO_PORT`),
      Lambda's included. A handler runs inside its invoke request and makes its own calls
      to the endpoint meanwhile; were the invocations of many running executions served
      by the pool, they could hold every worker while waiting for calls that need one.
      The only other requests that run a handler inside them come from the simulated
      Ground Truth's one worker thread (its Lambda invocations, and the SNS publish that
      delivers to the result function): at most two workers. A new Lambda subscriber or
      event target called from the pool must keep that bound.
    """

    def __init__(self, counter: OperationCounter, port: int, invoke_port: int) -> None:
        self.app = CountingApp(DomainDispatcherApplication(create_backend_app), counter)
        self._port = port
        self._invoke_port = invoke_port
        self._pool: Any = None
        self._pool_thread: threading.Thread | None = None
        self._invoke: BaseWSGIServer | None = None
        self._invoke_thread: threading.Thread | None = None

    def start(self) -> None:
        self._pool = create_server(
            self.app,
            host=HOST,
            port=self._port,
            threads=POOL_THREADS,
            connection_limit=CONNECTION_LIMIT,
            ident="moto",
        )
        self._pool_thread = threading.Thread(
            target=self._pool.run, name="moto-endpoint", daemon=True
        )
        self._pool_thread.start()
        self._invoke = make_server(
            HOST, self._invoke_port, self.app, True, request_handler=MotoRequestHandler
        )
        self._invoke_thread = threading.Thread(
            target=self._invoke.serve_forever, name="moto-invoke", daemon=True
        )
        self._invoke_thread.start()

    @property
    def port(self) -> int:
        assert self._pool is not None
        return int(self._pool.effective_port)

    @property
    def invoke_port(self) -> int:
        assert self._invoke is not None
        return int(self._invoke.server_address[1])

    def stop(self) -> None:
        """Stop both listeners. The endpoint stops accepting, answers the requests it has
        (up to STOP_WAIT_S), then closes its connections (clients reconnect after a
        restart)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            _on_loop(pool, lambda: wasyncore.dispatcher.close(pool))  # the listener only
            tasks = pool.task_dispatcher
            deadline = time.monotonic() + STOP_WAIT_S
            while time.monotonic() < deadline and (
                tasks.queue
                or tasks.active_count
                or any(c.requests or c.total_outbufs_len for c in _channels(pool))
            ):
                time.sleep(0.02)

            def close_all() -> None:
                for channel in _channels(pool):
                    channel.handle_close()
                pool.trigger.close()  # the loop ends with its last socket

            _on_loop(pool, close_all)
            tasks.shutdown(cancel_pending=True, timeout=STOP_WAIT_S)
            if self._pool_thread is not None:
                self._pool_thread.join(timeout=STOP_WAIT_S)
        if self._invoke is not None:
            self._invoke.shutdown()
            self._invoke.server_close()
            self._invoke = None
            if self._invoke_thread is not None:
                self._invoke_thread.join(timeout=STOP_WAIT_S)


def _channels(pool: Any) -> list[Any]:
    """waitress's open client connections (its socket map holds them, the listener and its
    wake-up trigger)."""
    return [d for d in list(pool._map.values()) if d is not pool and d is not pool.trigger]


def _on_loop(pool: Any, action: Callable[[], None]) -> None:
    """Run `action` on waitress's loop thread (its sockets are that thread's), and wait."""
    done = threading.Event()

    def run() -> None:
        try:
            action()
        finally:
            done.set()

    pool.trigger.pull_trigger(run)
    if not done.wait(timeout=STOP_WAIT_S):
        raise RuntimeError("the local endpoint's loop did not answer")


class LocalCloud:
    """The emulated account, its deployment and the in-process functions."""

    def __init__(
        self,
        config: DeploymentConfig,
        *,
        function_log: IO[str] | None = None,
        port: int = 0,
        function_processes: int = 0,
    ) -> None:
        self.config = config
        self.port = port
        # Worker processes the functions run in (`localcloud.containers`); 0: this process.
        self.function_processes = function_processes
        self.invoke_port = 0  # moto's Step Functions interpreter calls Lambda here
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
        # One line per request from werkzeug, waitress's notes whenever every worker is busy
        # ("Task queue depth"), and Powertools' warning about invocations without metrics
        # would drown everything else.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        if self._restore_moto is None:
            self._restore_moto = moto_speed.install()
        server = _Server(self.counter, self.port, self.invoke_port)
        server.start()
        self._server = server
        self.port, self.invoke_port = server.port, server.invoke_port
        if self.deployment is None:
            # A fresh account: nothing left over from an earlier runtime in this process.
            self._moto_api("reset", None)
        self._moto_api("config", MOTO_CONFIG)
        self._environment()
        if self.deployment is None:
            self.deployment = deploy(self.client, self.config, REGION, ACCOUNT)
        os.environ.update(self.deployment.environment)
        get_settings.cache_clear()
        if self.function_processes > 0:
            # Workers start on demand and take this environment with them.
            pool = functools.partial(
                ContainerPool,
                self.config.prefix,
                dict(self.dispatcher.memory_mb),
                log=self._function_log,
            )
            self.dispatcher.containers = pool(size=self.function_processes)
            # The stream's function has a worker of its own, as each function has its own
            # execution environments on Lambda: every shelf change waits for it, and with
            # only shared workers, busy with the finalize steps of a crowded day's
            # hundreds of workflows, most of its batches ran in this process, beside the
            # endpoint it calls (2/3 of its samples in a profile of a stadium-rush feed).
            self.dispatcher.own_containers = {"ingest": pool(size=1)}
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
        os.environ["MOTO_PORT"] = str(self.invoke_port)
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
        if self.dispatcher.containers is not None:
            self.dispatcher.containers.close()
            self.dispatcher.containers = None
        for pool in self.dispatcher.own_containers.values():
            pool.close()
        self.dispatcher.own_containers = {}
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
