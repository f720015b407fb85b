"""The Walkout store simulator: recordings of simulated stores with their ground truth.

It knows only the store contract (`walkout.store`, `walkout.catalog`, `walkout.definition`)
and physics; it never imports edge-agent or cloud code, so what it records is an honest
test of them. Entry points: `simulator.simulate.simulate` (shoppers, events, sensors'
surprises; no pixels), `simulator.recording.record` (everything, written to a folder) and
`simulator.preview.write_preview`; see docs/simulator.md.
"""
