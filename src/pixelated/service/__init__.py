"""The service: a thin, authenticated front door (REST, NDJSON streaming, webhooks, jobs) to
the same readers, schema, anonymizer, scorer and DVC pipeline the batch stages use.

Everything that calls pipeline code goes through `engine`; the rest of this package knows
nothing about pipeline internals.
"""
