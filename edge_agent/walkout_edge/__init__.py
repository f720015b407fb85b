"""Walkout's in-store edge agent: cameras, load cells and gates in; walkout.event/1 out."""

__version__ = "0.1.0"
