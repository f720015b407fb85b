"""Finalizing a session (DESIGN.md sections 5 and 6): score it, send only its uncertain
events to review, settle the answers (or the customer-favourable fallback) and issue the
receipt with the live cart's pricing.

Pure modules: `scoring`, `questions`, `outcome`, `receipt`. `service` wires them to the data
modules for the workflow's Lambda steps; `messages` are the steps' input and output models.
"""
