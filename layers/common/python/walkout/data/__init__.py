"""Data access: one module per store of state, each a small class over boto3.

- `stores`: store definitions (layout, catalog, planogram), cached per container;
- `sessions`: sessions, live carts, attribution records, lane memory, ambiguity intervals;
- `ingest`: device watermarks and quarantined records;
- `workflow` and `notifications`: the hand-over to Step Functions and `CartUpdated` on
  EventBridge.

Keys, indexes and TTLs are documented in docs/data-model.md. Clients come from
`dynamo.client`, created once per process.
"""
