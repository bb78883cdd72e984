"""Hypothesis settings of the fuzz tests: quick in ``bin/test``, long in ``bin/campaign``.

``HYPOTHESIS_PROFILE=campaign`` (what ``bin/campaign`` sets) loads the "campaign"
profile for the whole run and multiplies each fuzz test's examples by
``CAMPAIGN_FACTOR``. Without it nothing is loaded globally, so hypothesis tests
elsewhere in the suite keep their own settings. The conftests of ``tests/certs``
and ``tests/card_reader`` import this module, so the profile is in force before
any of their tests is collected.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

CAMPAIGN_FACTOR = 20  # the fuzz tests then take about 10 minutes of the campaign
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
# generated inputs are big on purpose (images, deep JSON): "too slow" is expected
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile(
    "campaign",
    max_examples=100 * CAMPAIGN_FACTOR,
    deadline=None,  # a long run on a busy machine: timing says nothing
    suppress_health_check=_SLOW_OK,
)
if PROFILE == "campaign":
    settings.load_profile("campaign")


def fuzz(examples: int) -> settings:
    """Settings for a fuzz test: ``examples`` normally, ``CAMPAIGN_FACTOR`` times more in a campaign.

    No deadline: the first example pays for imports and caches, and CI machines vary.
    """
    factor = CAMPAIGN_FACTOR if PROFILE == "campaign" else 1
    return settings(max_examples=examples * factor, deadline=None, suppress_health_check=_SLOW_OK)
