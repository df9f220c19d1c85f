"""The Pythia 8 + FastJet generator: bit-identical from its seed, resumable, and applying the selection."""
import hashlib
from pathlib import Path

import numpy as np
import pytest

from qhep.formats.lhco import read_features
from qhep.generation.lhco import ETA_MAX, LEAD_PT_MIN, generate_lhco
from qhep.physics.jets import nsubjettiness


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gen")
    path = folder / "one_worker.h5"
    flow = generate_lhco(path, 12, 12, seed=5, workers=1, show_progress=False)
    return path, flow


def test_same_seed_same_bytes_whatever_the_worker_count(small_sample, tmp_path):
    path, _ = small_sample
    other = tmp_path / "two_workers.h5"
    generate_lhco(other, 12, 12, seed=5, workers=2, show_progress=False)
    assert sha(other) == sha(path)
    different = tmp_path / "seed6.h5"
    generate_lhco(different, 12, 12, seed=6, workers=2, show_progress=False)
    assert sha(different) != sha(path)


def test_interrupted_generation_resumes_from_finished_chunks(small_sample, tmp_path, monkeypatch):
    import qhep.generation.lhco as lhco_generation

    path, _ = small_sample
    assert not path.with_name(path.name + ".parts").exists()  # removed once the output was written and verified
    copy = tmp_path / path.name
    real_write = lhco_generation.write_features

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as if the run died after its chunks, while writing the output

    monkeypatch.setattr(lhco_generation, "write_features", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate_lhco(copy, 12, 12, seed=5, workers=1, show_progress=False)
    parts = sorted(copy.with_name(copy.name + ".parts").iterdir())
    parts[-1].unlink()  # and before its last chunk
    stamps = {p.name: p.stat().st_mtime_ns for p in parts[:-1]}
    monkeypatch.setattr(lhco_generation, "write_features", real_write)
    seen = {}
    real_load = np.load

    def watching_load(file, *args, **kwargs):  # the rerun reads the kept chunks as they were
        seen[Path(file).name] = Path(file).stat().st_mtime_ns
        return real_load(file, *args, **kwargs)

    monkeypatch.setattr(np, "load", watching_load)
    generate_lhco(copy, 12, 12, seed=5, workers=1, show_progress=False)
    assert sha(copy) == sha(path)
    assert all(seen[name] == stamps[name] for name in stamps)  # kept, not regenerated
    assert not copy.with_name(copy.name + ".parts").exists()


def test_events_pass_the_lhco_selection(small_sample):
    path, flow = small_sample
    frame = read_features(path)
    assert (frame.label == 0).sum() == 12 and (frame.label == 1).sum() == 12
    pt1 = np.hypot(frame.pxj1, frame.pyj1)
    eta1 = np.arcsinh(frame.pzj1 / pt1)
    assert (pt1 > LEAD_PT_MIN * (1 - 1e-6)).all() and (np.abs(eta1) < ETA_MAX).all()
    assert (pt1 >= np.hypot(frame.pxj2, frame.pyj2)).all()  # jets ordered by pT
    assert flow["background"]["generated"] >= flow["background"]["selected"] == 12


def test_nsubjettiness_by_hand():
    # Two massless particles of equal pT at rapidity +-0.1: one axis between them (dR = 0.1 each), two on them.
    pt, y = 100.0, 0.1
    particles = np.array([[pt, 0, pt * np.sinh(s * y), pt * np.cosh(s * y)] for s in (1, -1)])
    tau = nsubjettiness(particles, n_max=3, radius=1.0)
    assert tau[0] == pytest.approx(0.1, rel=1e-9)
    assert tau[1] == pytest.approx(0.0, abs=1e-12) and tau[2] == 0.0
