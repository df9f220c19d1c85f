"""Shared fixtures: small files in the exact published layouts, made here (no downloads)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qhep.formats.lhco import COLUMNS


def _jet(pt, phi, eta, mass, tau1, tau21):
    """The seven per-jet columns: px, py, pz, m, tau1, tau2, tau3."""
    tau2 = tau1 * tau21
    return [pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), mass, tau1, tau2, 0.8 * tau2]


def lhco_frame(n_background: int = 400, n_signal: int = 200, seed: int = 0) -> pd.DataFrame:
    """Back-to-back dijets in the 15-column layout: light one-prong QCD-like jets; signal with 100 and 500 GeV
    two-prong jets (low tau21)."""
    rng = np.random.default_rng(seed)
    blocks = []
    for label, n in ((0.0, n_background), (1.0, n_signal)):
        phi, pt = rng.uniform(-np.pi, np.pi, n), rng.uniform(1250, 1800, n)
        if label:
            masses, tau21 = (rng.normal(100, 8, n), rng.normal(500, 25, n)), rng.uniform(0.1, 0.4, (2, n))
        else:
            masses, tau21 = (rng.exponential(60, (2, n)) + 20), rng.uniform(0.4, 0.9, (2, n))
        jets = [_jet(pt, phi + k * np.pi, rng.normal(0, 0.6, n), masses[k], rng.uniform(0.2, 0.6, n), tau21[k])
                for k in (0, 1)]
        blocks.append(np.column_stack([*jets[0], *jets[1], np.full(n, label)]))
    return pd.DataFrame(np.concatenate(blocks), columns=COLUMNS)


@pytest.fixture
def lhco_file(tmp_path):
    """A features file written as the published one: pandas fixed format, float64, key `df`."""
    path = tmp_path / "events_anomalydetection_v2.features.h5"
    lhco_frame().to_hdf(path, key="df", mode="w", format="fixed")
    return path


@pytest.fixture
def zenodo():
    """A local Zenodo records API (tests/test_data_commands.py) serving the files a test puts in it."""
    import threading

    from tests.test_data_commands import FakeZenodo

    fake = FakeZenodo()
    thread = threading.Thread(target=fake.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def cli(capsys):
    """Run the qhep command as a user would: cli(*args) -> (exit code, stdout, stderr)."""
    from qhep.cli import main

    def run(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
