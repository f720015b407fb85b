from __future__ import annotations

from collections.abc import Iterator

import pytest
from serve_support import LocalStack, local_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """One local server (and moto) per test module."""
    with local_stack(tmp_path_factory.mktemp("dev-issuer")) as running:
        yield running


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures the issue asks for: schemathesis cases, the live cart's latency."""
    import sys  # noqa: PLC0415

    browser = sys.modules.get("test_browser")
    if browser is not None and browser.LATENCIES_S:
        figures = ", ".join(f"{s:.2f} s" for s in browser.LATENCIES_S)
        terminalreporter.write_line(f"live cart: write to page latency {figures}")
    module = sys.modules.get("test_schemathesis")
    if module is None or not module.CASES:
        return
    cases, statuses = module.CASES, module.STATUSES
    terminalreporter.write_line(
        f"schemathesis: {sum(cases.values())} cases over {len(cases)} operations; "
        f"responses by status: {dict(sorted(statuses.items()))}"
    )
    if module.KNOWN:
        terminalreporter.write_line(
            f"schemathesis: known issue (non-UTF-8 JSON body -> 500) in {dict(module.KNOWN)}"
        )
