"""Edge perception: cameras, load cells and gates in; walkout.event/1 out (docs/edge-perception.md).

- `sources`, `live`: where readings come from (a recording replay, live feeds);
- `weights`: settled weight changes per load cell;
- `foreground`, `geometry`, `occupancy`, `appearance`, `vision`: people on the floor;
- `tracking`: one track per shopper, encounters reported as ambiguities;
- `gates`: scans, turnstile pulses and exits bound to tracks;
- `reach`: candidates and evidence for a weight change;
- `pipeline`: all of it into an `EventSink`; `runner`: the daemon's source kinds;
- `replay_cli`: `walkout-edge replay` and `walkout-edge bench`.
"""
