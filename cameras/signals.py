"""Signals the ingest stage sends to the stages after it, which it must not import.

Deleting uploads (cameras.ingest.ingest_delete) happens in one transaction:
`ingest_removing` first, while everything made from the uploads is still there (events
unlink their detections and count again), then `ingest_removed` (detections delete their
rows and files). Both carry `ingest_ids`.
"""

from django.dispatch import Signal

ingest_removing = Signal()
ingest_removed = Signal()
