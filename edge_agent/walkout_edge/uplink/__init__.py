"""The uplink: the durable outbox and what empties it into Kinesis and S3.

`outbox` (SQLite queue) ← `sink` (the daemon's EventSink) ← the source;
`producer` (KPL-aggregated PutRecords) and `evidence` (S3 PutObject) run in `loop`s with
`backoff`; `heartbeat` and `health` report on all of it.
"""
