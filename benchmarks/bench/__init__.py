"""`walkout bench`: score a run of the local pipeline against a recording's truth.

- `artifacts`: read the files the local pipeline writes (docs/cost-model.md, "Run artifacts");
- `scoring`: every DESIGN.md section 8 figure, the operating curve, review causes and the
  reliability of session confidences;
- `cost`: counted operations x a dated price table -> `cost_usd_per_1000_visits`;
- `report`: the self-contained HTML report with inline SVG plots;
- `doc`: `docs/benchmarks.md` from the JSON results of several scenarios.

Everything here is pure: it reads files and returns data; the CLI (`walkout_cli.bench`)
records, runs the pipeline and prints.
"""
