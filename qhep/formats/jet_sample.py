"""The qhep jet-sample layout (`qhep.jets/1`): qhep's embedded top and semi-visible-jet samples, compact.

The task code reads it exactly as it reads the published constituent tables (qhep.formats.constituents): the
same JetBatch, four-momenta px, py, pz, E per constituent. HDF5 (h5py), gzip level 9 with the shuffle filter, the
root attribute `layout` = "qhep.jets/1":
- `jet` (n, 3) float32: pT [GeV], eta, phi of the jet axis (the sum of the constituents);
- `pt_fraction`, `deta`, `dphi`, `mass`, each (n, C) float16: pT / jet pT, eta - jet eta, phi - jet phi (wrapped
  to [-pi, pi)) and mass [GeV] of the leading C constituents, pT-ordered, zero-padded (one dataset per field: alike
  values side by side compress best);
- `n_constituents` (n,) uint16: the real constituents per jet (the rest is padding);
- `label` (n,) int8: 1 = signal; optional `truth` (n, 4) float32 px, py, pz, E (the matched top), and per-jet
  extras under the group `extra` (as stored).

What the reduced precision costs: float16 keeps 11 significant bits, a relative 2.4e-4 on a constituent's pT
fraction and mass and at most 2.4e-4 on its d-eta and d-phi (|d| < 1 inside a jet). The masses must be kept: read
back massless, the jets' masses would move by 3 % (median) from the hadrons' masses alone. Each mass is stored as
the nearest mass of a particle Pythia leaves stable (HADRON_MASSES): the published layout's float32 four-momenta
give masses blurred by rounding (for a 100 GeV pion E and |p| differ by 1e-4 GeV, the size of float32's step
there), which would take a fifth of the file and carry no physics. The jet features computed from it agree with
those of the published layout to within those errors (tests). The input is rounded to float32 first, as the published layout stores it, so the sample
written from a generated sample and from its published-layout file are the same bytes.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from qhep.errors import DataError

LAYOUT = "qhep.jets/1"
COMPRESSION = {"compression": "gzip", "compression_opts": 9, "shuffle": True}
FIELDS = ("pt_fraction", "deta", "dphi", "mass")
# Masses [GeV] of the particles a generator leaves stable (c tau > 1 cm): photon, e, mu, pi+-, K+-, K0_L, p, n,
# Lambda, Sigma+, Sigma-, Xi0, Xi-, Omega-
HADRON_MASSES = np.array([0.0, 0.000511, 0.10566, 0.13957, 0.49368, 0.49761, 0.93827, 0.93957, 1.11568, 1.18937,
                          1.19745, 1.31486, 1.32171, 1.67245])


def is_jet_sample(path: str | Path) -> bool:
    """Whether the file is HDF5 in qhep's jet-sample layout (cheap: reads the root attributes only). A path that
    is not a readable regular file is refused first, in one line (h5py would block on a FIFO)."""
    import h5py

    from qhep.formats.files import check_file
    from qhep.formats.hdf import has_hdf5_signature

    with open(check_file(path), "rb") as handle:
        if not has_hdf5_signature(handle.read(4096)):
            return False
    try:
        with h5py.File(path, "r") as handle:
            return handle.attrs.get("layout") == LAYOUT
    except OSError:
        return False


def write_jet_sample(path: str | Path, constituents: np.ndarray, labels: np.ndarray, n_keep: int,
                     truth: np.ndarray | None = None, extra: dict[str, np.ndarray] | None = None) -> None:
    """Write (n, N, 4) px, py, pz, E (pT-sorted, zero-padded; E = 0 marks padding) keeping the leading n_keep."""
    import h5py

    p = np.asarray(constituents, dtype=np.float32).astype(np.float64)[:, :n_keep]  # as the published layout
    real = p[..., 3] > 0
    pt = np.where(real, np.hypot(p[..., 0], p[..., 1]), 0.0)
    eta = np.arcsinh(np.divide(p[..., 2], pt, out=np.zeros_like(pt), where=pt > 0))
    phi = np.arctan2(p[..., 1], p[..., 0])
    mass = np.sqrt(np.maximum(p[..., 3] ** 2 - (p[..., :3] ** 2).sum(axis=-1), 0.0))
    mass = HADRON_MASSES[np.abs(mass[..., None] - HADRON_MASSES).argmin(axis=-1)]
    total = (p * real[..., None]).sum(axis=1)
    jet_pt = np.hypot(total[:, 0], total[:, 1])
    jet_eta = np.arcsinh(np.divide(total[:, 2], jet_pt, out=np.zeros_like(jet_pt), where=jet_pt > 0))
    jet_phi = np.arctan2(total[:, 1], total[:, 0])
    relative = np.stack([np.divide(pt, jet_pt[:, None], out=np.zeros_like(pt), where=jet_pt[:, None] > 0),
                         eta - jet_eta[:, None], _wrap(phi - jet_phi[:, None]), mass], axis=-1) * real[..., None]
    with h5py.File(path, "w", track_order=False) as handle:
        handle.attrs["layout"] = LAYOUT
        handle.create_dataset("jet", data=np.column_stack([jet_pt, jet_eta, jet_phi]).astype(np.float32),
                              **COMPRESSION)
        for k, name in enumerate(FIELDS):
            handle.create_dataset(name, data=relative[..., k].astype(np.float16),
                                  chunks=(min(len(p), 1024), relative.shape[1]), **COMPRESSION)
        handle.create_dataset("n_constituents", data=real.sum(axis=1).astype(np.uint16), **COMPRESSION)
        handle.create_dataset("label", data=np.asarray(labels).astype(np.int8), **COMPRESSION)
        if truth is not None:
            handle.create_dataset("truth", data=np.asarray(truth, dtype=np.float32), **COMPRESSION)
        for name, values in (extra or {}).items():
            handle.create_dataset(f"extra/{name}", data=np.asarray(values), **COMPRESSION)


def _wrap(angle: np.ndarray) -> np.ndarray:
    return np.mod(angle + np.pi, 2 * np.pi) - np.pi


def count_jets(path: str | Path) -> int:
    """The number of jets, every dataset checked for it (a truncated or inconsistent file is refused)."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as handle:
            needed = ("jet", *FIELDS, "n_constituents", "label")
            missing = [k for k in needed if k not in handle]
            if missing:
                raise DataError(path, f"{LAYOUT} file without the dataset {missing[0]!r}")
            sizes = {k: handle[k].shape[0] for k in needed}
            if len(set(sizes.values())) != 1:
                raise DataError(path, f"{LAYOUT} datasets of different lengths: {sizes}")
            shapes = {handle[k].shape for k in FIELDS}
            if len(shapes) != 1 or len(next(iter(shapes))) != 2:
                raise DataError(path, f"{LAYOUT} constituent fields must be alike (n, C), not {sorted(shapes)}")
            return int(sizes["label"])
    except OSError as exc:
        raise DataError(path, f"not a readable HDF5 file ({exc})") from None


def iter_jet_sample(path: str | Path, chunk_size: int, max_jets: int | None) -> Iterator[tuple]:
    """(constituents px py pz E, mask, labels, truth, start) blocks of at most chunk_size jets."""
    import h5py

    path = Path(path)
    n = _with_jets(path)
    end = n if max_jets is None else min(max_jets, n)
    with h5py.File(path, "r") as handle:
        for start in range(0, end, chunk_size):
            stop = min(start + chunk_size, end)
            yield _block(handle, path, start, stop)


def read_block(path: str | Path, start: int, stop: int | None = None) -> tuple:
    """Jets [start, stop) (stop None: to the end) as (constituents px py pz E, mask, labels, truth, start)."""
    import h5py

    path = Path(path)
    n = _with_jets(path)
    with h5py.File(path, "r") as handle:
        return _block(handle, path, start, n if stop is None else min(stop, n))


def _with_jets(path: Path) -> int:
    """The number of jets of a checked sample; an empty one is refused, as the published layout's reader does."""
    n = count_jets(path)
    if n == 0:
        raise DataError(path, "no jets (the sample is empty)")
    return n


def read_extra(path: str | Path) -> dict[str, np.ndarray]:
    """The per-jet extras (empty when the sample has none)."""
    import h5py

    with h5py.File(path, "r") as handle:
        return {name: handle[f"extra/{name}"][()] for name in handle.get("extra", {})}


def _block(handle, path: Path, start: int, stop: int) -> tuple:
    try:
        jet = handle["jet"][start:stop].astype(np.float64)
        relative = np.stack([handle[k][start:stop] for k in FIELDS], axis=-1).astype(np.float64)
        count = handle["n_constituents"][start:stop].astype(np.int64)
        labels = handle["label"][start:stop].astype(np.int64)
        truth = handle["truth"][start:stop].astype(np.float64) if "truth" in handle else None
    except OSError as exc:  # damaged data chunks fail only when read
        raise DataError(path, f"cannot read jets {start}-{stop} ({exc})") from None
    if not (np.isfinite(jet).all() and np.isfinite(relative).all()):
        raise DataError(path, f"non-finite values in jets {start}-{stop}")
    if (count > relative.shape[1]).any() or not np.isin(labels, (0, 1)).all():
        raise DataError(path, f"jets {start}-{stop}: a constituent count above {relative.shape[1]} or a label not 0/1")
    mask = np.arange(relative.shape[1])[None, :] < count[:, None]
    pt = relative[..., 0] * jet[:, :1]
    eta, phi = relative[..., 1] + jet[:, 1:2], relative[..., 2] + jet[:, 2:3]
    pz = pt * np.sinh(eta)
    energy = np.sqrt((pt * np.cosh(eta)) ** 2 + relative[..., 3] ** 2)  # |p| = pT cosh(eta)
    momenta = np.stack([pt * np.cos(phi), pt * np.sin(phi), pz, energy], axis=-1)
    return momenta * mask[..., None], mask, labels, truth, start



def from_published(source: str | Path, path: str | Path) -> None:
    """Write a published-layout constituent file (with its per-jet extras under `event`) in this layout: the
    same bytes as generating the sample in this layout directly."""
    import pandas as pd

    from qhep.formats.constituents import inspect_table, read_jets

    info, batch = inspect_table(source), read_jets(source)
    with pd.HDFStore(source, mode="r") as store:
        frame = store["event"] if "/event" in store.keys() else pd.DataFrame()
    published = np.zeros_like(batch.constituents)
    published[batch.mask] = batch.constituents[batch.mask]
    write_jet_sample(path, published, batch.labels, info.n_constituents, truth=batch.truth,
                     extra={name: frame[name].to_numpy() for name in frame.columns})
