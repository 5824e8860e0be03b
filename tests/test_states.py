"""The state tables cover PanDA's whole vocabularies, in any case, and combine as documented."""

from __future__ import annotations

import pytest

from jiracampaign.core.states import BatchState, combine
from jiracampaign.sources.panda.states import (
    from_idds_processing,
    from_idds_request,
    from_jedi_task,
    job_bucket,
)

# HSF/iDDS common/lib/idds/common/constants.py and JEDI's task states, as listed in the PanDA reference
REQUEST_STATUS = ("New Ready Transforming Finished SubFinished Failed Extend ToCancel Cancelling Cancelled ToSuspend "
                  "Suspending Suspended ToResume Resuming ToExpire Expiring Expired ToFinish ToForceFinish Terminating "
                  "Building Built Throttling ToClose").split()
PROCESSING_STATUS = ("New Submitting Submitted Running Finished Failed Lost Cancel FinishedOnStep FinishedOnExec "
                     "FinishedTerm SubFinished ToCancel Cancelling Cancelled ToSuspend Suspending Suspended ToResume "
                     "Resuming ToExpire Expiring Expired TimeOut ToFinish ToForceFinish Broken Terminating ToTrigger "
                     "Triggering Synchronizing Prepared").split()
JEDI_STATUS = ("registered defined assigning ready pending scouting scouted running prepared done failed finished "
               "aborting aborted finishing topreprocess preprocessing tobroken broken toretry toincexec rerefine "
               "paused throttled exhausted passed toabort toreassign reassigning").split()


def test_every_idds_and_jedi_state_is_mapped_in_either_case():
    assert len(REQUEST_STATUS) == 25 and len(PROCESSING_STATUS) == 32
    for name in REQUEST_STATUS:
        assert from_idds_request(name) is not BatchState.UNKNOWN, name
        assert from_idds_request(name.lower()) is from_idds_request(name)
    for name in PROCESSING_STATUS:
        assert from_idds_processing(name) is not BatchState.UNKNOWN, name
    for name in JEDI_STATUS:
        assert from_jedi_task(name) is not BatchState.UNKNOWN, name


def test_unrecognised_states_are_unknown_never_guessed():
    assert from_idds_request("Frobnicating") is BatchState.UNKNOWN
    assert from_idds_request("") is BatchState.UNKNOWN
    assert from_jedi_task(None) is BatchState.UNKNOWN


@pytest.mark.parametrize("name, bucket", [("finished", "finished"), ("failed", "failed"), ("subfinished", "failed"),
                                          ("holding", "running"), ("activated", "pending"), ("closed", "cancelled"),
                                          ("FAILED", "failed"), ("weird", "pending")])
def test_job_buckets(name, bucket):
    assert job_bucket(name) == bucket


@pytest.mark.parametrize("req, tasks, expected", [
    (BatchState.RUNNING, [BatchState.RUNNING, BatchState.HELD], BatchState.HELD),
    (BatchState.RUNNING, [BatchState.PENDING, BatchState.PENDING], BatchState.PENDING),
    (BatchState.PENDING, [BatchState.RUNNING], BatchState.RUNNING),
    (BatchState.PARTIAL, [BatchState.HELD], BatchState.PARTIAL),  # a final request state stands
    (BatchState.RUNNING, [], BatchState.RUNNING),
])
def test_combine(req, tasks, expected):
    assert combine(req, tasks) is expected
