"""The `walkout` command for developers and operators (schema, and later sim, eval, demo, bench, serve)."""
