"""Live line feeds over TCP: reading, parsing, bad lines, reconnecting after a drop."""

from __future__ import annotations

import importlib.util
import queue
import socket
import threading
import time
from types import SimpleNamespace

import pytest

from walkout_edge.perception.gates import GateEvent
from walkout_edge.perception.live import (
    Backoff,
    LineReader,
    parse_gate_feed_line,
    parse_loadcell_line,
)
from walkout_edge.perception.sources import LoadCellReadings


def test_load_cell_lines_in_csv_or_json_with_or_without_a_time() -> None:
    assert parse_loadcell_line("12.5,lc-1,100.5", 99.0) == LoadCellReadings(
        12.5, (("lc-1", 100.5),)
    )
    assert parse_loadcell_line(",lc-1,100.5", 99.0) == LoadCellReadings(99.0, (("lc-1", 100.5),))
    assert parse_loadcell_line('{"cell_id": "lc-2", "grams": 7}', 5.0) == LoadCellReadings(
        5.0, (("lc-2", 7.0),)
    )
    assert parse_loadcell_line("ts,cell_id,grams", 1.0) is None
    with pytest.raises(ValueError):
        parse_loadcell_line("1.0,lc-1", 1.0)


def test_gate_lines_get_the_arrival_time_when_they_carry_none() -> None:
    line = '{"kind": "scan", "gate_id": "entry-1", "account_ref": "acct-9"}'
    assert parse_gate_feed_line(line, 42.0) == GateEvent(42.0, "entry-1", "scan", "acct-9")


def test_backoff_doubles_up_to_its_cap_and_resets() -> None:
    b = Backoff(base_s=1.0, cap_s=5.0)
    assert [b.next_delay() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    b.reset()
    assert b.next_delay() == 1.0


def test_a_tcp_feed_is_read_bad_lines_counted_and_a_dropped_connection_reopened() -> None:
    # Given a feed server that sends three lines (one bad), hangs up, then serves again
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        for batch in (b"1.0,lc-1,10\nnonsense\n2.0,lc-1,11\n", b"3.0,lc-1,12\n"):
            conn, _ = server.accept()
            conn.sendall(batch)
            time.sleep(0.2)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    out: queue.Queue[object] = queue.Queue()
    stop = threading.Event()
    bad: list[str] = []
    feed = SimpleNamespace(transport="tcp", host="127.0.0.1", port=port)
    reader = LineReader("loadcells", feed, parse_loadcell_line, out, stop, on_bad_line=bad.append)
    reader.backoff = Backoff(base_s=0.05, cap_s=0.1)
    # When the reader runs
    reader.start()
    got = [out.get(timeout=10) for _ in range(3)]
    stop.set()
    reader.join(timeout=5)
    server.close()
    # Then every good line arrived, across the reconnection, and the bad one was counted
    assert [r.ts for r in got] == [1.0, 2.0, 3.0]  # type: ignore[attr-defined]
    assert bad == ["loadcells_bad_line"]
    assert reader.health.bad_lines == 1
    assert reader.health.readings == 3


@pytest.mark.skipif(
    importlib.util.find_spec("paho") is not None, reason="paho-mqtt is installed here"
)
def test_mqtt_without_its_client_library_is_a_clear_error() -> None:
    feed = SimpleNamespace(transport="mqtt", host="h", port=1883, topic="t", tls=False)
    with pytest.raises(ValueError, match="paho-mqtt"):
        LineReader("gates", feed, parse_gate_feed_line, queue.Queue(), threading.Event())
