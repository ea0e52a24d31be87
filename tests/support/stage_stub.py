"""A stand-in for the stage after ingest, named by its dotted path
(`tests.support.stage_stub.record`) in INGEST_NEXT_STAGE by the ingest tests and the ingest
benchmark: it takes rows the way the real next stage does (ingest_claim_for_stage) and logs
each id it was given to the file HOMESEC_TEST_STAGE_LOG names."""

import os

from cameras.ingest import ingest_claim_for_stage


def record(ingest_ids):
    rows = ingest_claim_for_stage(ingest_ids=ingest_ids)
    with open(os.environ["HOMESEC_TEST_STAGE_LOG"], "a") as log:
        for row in rows:
            log.write(f"{row.pk}\n")
