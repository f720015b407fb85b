"""Cloud ingest: `walkout.event/1` records from the stream into sessions, live carts and
attribution records (DESIGN.md sections 3, 4 and 6).

`service.IngestService` is what the ingest Lambda calls; `lifecycle` holds the pure session
rules. Nothing is imported here, so the pure parts load without boto3.
"""
