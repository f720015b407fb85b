"""The HTTP API: callers and tenancy (`auth`), problem responses (`problems`), opaque
cursors (`cursor`), request/response models (`models`), the store administration service
(`stores`) and the Powertools resolver with its routes (`app`)."""
