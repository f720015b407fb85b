"""The `walkout` command for developers and operators (schema; later sim, eval, bench, serve)."""
