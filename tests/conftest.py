"""What the tests share: one pipeline on the committed bundle for the whole run, and the `slow` marker.

`pytest -m "not slow"` leaves out the tests that start a browser or a server, sample with DDPM's
1000 steps or train: a loop under a minute. The README's command runs everything.
"""

from __future__ import annotations

import pytest

from core.pipeline import MelodyPipeline


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: starts a browser or a server, samples with DDPM or trains; "
                                       "left out by -m 'not slow'")


@pytest.fixture(scope="session")
def committed_pipeline() -> MelodyPipeline:
    """The pipeline on the committed bundle (demo/model): the very one the app's handlers use."""
    from demo.outputs import shared_pipeline

    return shared_pipeline()
