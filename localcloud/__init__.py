"""The cloud side on a local AWS emulation (moto server): the same handlers and ASL."""
