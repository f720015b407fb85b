"""`walkout sim`: record a simulated store (`record`), draw a recording's picture (`preview`).

The simulator (OpenCV, SciPy) is imported only when a `sim` action runs, so that the other
`walkout` commands start fast.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from walkout_cli.errors import CliError


class ProgressBar:
    """A one-line progress bar on stderr (a line per stage and every 10 % when not a TTY)."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.tty = stream.isatty()
        self.stage = ""
        self.shown = -1
        self.started = time.perf_counter()

    def __call__(self, stage: str, fraction: float) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        step = int(fraction * 100) if self.tty else int(fraction * 10) * 10
        if stage == self.stage and step == self.shown:
            return
        if stage != self.stage and self.stage and self.tty:
            self.stream.write("\n")
        self.stage, self.shown = stage, step
        filled = int(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = time.perf_counter() - self.started
        line = f"{stage:<10} [{bar}] {fraction * 100:5.1f}%  {elapsed:6.1f}s"
        if self.tty:
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self.stage:
            self.stream.write("\n")
            self.stream.flush()


def _prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "recording.json").is_file():
        raise CliError(f"--out {out}: folder is not empty and holds no recording to replace")
    cameras = out / "cameras"
    if cameras.is_dir():
        for old in list(cameras.glob("*.mp4")) + list(cameras.glob("*.frames.csv")):
            old.unlink()


def _record(args: argparse.Namespace) -> int:
    from simulator.recording import record  # noqa: PLC0415 - heavy, see the module doc
    from simulator.scenario import ScenarioError, load_scenario  # noqa: PLC0415

    try:
        scenario = load_scenario(args.scenario)
        out = Path(args.out)
        _prepare_out(out)
        bar = ProgressBar()
        summary = record(
            scenario, out, progress=bar, workers=args.workers, cameras=not args.no_video
        )
        bar.done()
    except ScenarioError as exc:
        raise CliError(str(exc)) from None
    world = summary.world
    counts = summary.hard_cases
    print(f"recorded {scenario.name} into {out}")
    print(
        f"  {len(world.sessions)} sessions, {len(world.people)} people, "
        f"{len(world.events)} shelf events, {summary.loadcell_rows} load-cell rows"
    )
    print(
        f"  {len(summary.cameras)} cameras, {summary.frames_written} frames written, "
        f"render {summary.render_fps_per_core:.0f} frames/s per core"
    )
    print("  hard cases: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    print("  wall time: " + ", ".join(f"{k} {v:.1f}s" for k, v in summary.timings_s.items()))
    return 0


def _preview(args: argparse.Namespace) -> int:
    from simulator.preview import PreviewError, write_preview  # noqa: PLC0415

    try:
        write_preview(Path(args.recording), Path(args.out))
    except PreviewError as exc:
        raise CliError(str(exc)) from None
    print(f"wrote {args.out}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("sim", help="record simulated stores and preview recordings")
    actions = parser.add_subparsers(dest="sim_command", metavar="ACTION", required=True)
    rec = actions.add_parser("record", help="simulate a scenario and write its recording")
    rec.add_argument(
        "--scenario",
        required=True,
        help="a scenario YAML file or a bundled name (demo, busy, stadium-rush, crowded)",
    )
    rec.add_argument("--out", required=True, help="folder to write the recording into")
    rec.add_argument(
        "--workers", type=int, default=None, help="camera rendering processes (default: cores)"
    )
    rec.add_argument(
        "--no-video", action="store_true", help="skip the cameras (truth and sensors only)"
    )
    rec.set_defaults(func=_record)
    prev = actions.add_parser(
        "preview", help="draw a recording's floor plan, trajectories and events"
    )
    prev.add_argument("--recording", required=True, help="a recording folder")
    prev.add_argument("--out", required=True, help="PNG file to write")
    prev.set_defaults(func=_preview)
