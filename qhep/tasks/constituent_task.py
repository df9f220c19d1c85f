"""Tasks on jet-constituent tables (top tagging, semi-visible jets): per-jet features computed from constituents.

Features come from the constituents alone, so they are the same on the published files and on qhep's samples:
jet mass and pT from the constituent sum, N-subjettiness ratios (beta = 1, R0 = 0.8, exclusive-kT axes) and the
constituent multiplicity. The `constituents` representation instead gives each jet as its leading constituents
in (pT fraction, d-eta, d-phi), centred and rotated as in particle-cloud taggers, flattened to one row.

Views: `features` (the rows above); `constituents`, the same leading constituents as a (N, C, 3) masked array;
`image`, jet images (N, P, P) of pT fraction per pixel in (d-eta, d-phi), from every constituent, centred and
rotated the same way (the preprocessing of jet-image autoencoders).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from qhep.formats.constituents import iter_jets
from qhep.physics.jets import invariant_mass, nsubjettiness, quiet_fastjet
from qhep.tasks.base import Task, TaskEvents, embedded_sample, sha256_of

FEATURES = ("mass", "pt", "tau21", "tau32", "n_constituents")
REPRESENTATIONS = ("high_level", "constituents")
VIEW_FIELDS = ("pt_fraction", "deta", "dphi")
TAU_R0 = 0.8


def jet_features(constituents: np.ndarray, mask: np.ndarray, radius: float = TAU_R0) -> dict[str, np.ndarray]:
    """mass and pT [GeV], tau21, tau32 and multiplicity per jet, from (n, N, 4) px py pz E and the mask."""
    quiet_fastjet()
    total = (constituents * mask[..., None]).sum(axis=1)
    taus = np.array([nsubjettiness(c[m], 3, radius) for c, m in zip(constituents, mask)]).reshape(-1, 3)
    return {
        "mass": invariant_mass(total),
        "pt": np.hypot(total[:, 0], total[:, 1]),
        "tau21": _ratio(taus[:, 1], taus[:, 0]),
        "tau32": _ratio(taus[:, 2], taus[:, 1]),
        "n_constituents": mask.sum(axis=1).astype(np.float64),
    }


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (a jet with too few constituents for the axes)."""
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def constituent_view(constituents: np.ndarray, mask: np.ndarray, n_const: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, n_const, 3) of (pT / jet pT, d-eta, d-phi) per constituent, pT-sorted and zero-padded, with the mask.

    Coordinates are relative to the pT-weighted centroid in (eta, phi) and rotated about it so that the principal
    axis of the pT-weighted (eta, phi) spread points along +phi; the axis direction is chosen so that the leading
    constituent off the centre line has d-phi > 0. Rotation keeps the jet's handedness (no reflection).
    """
    px, py, pz = constituents[..., 0], constituents[..., 1], constituents[..., 2]
    pt = np.where(mask, np.hypot(px, py), 0.0)
    order = np.argsort(-pt, axis=1, kind="stable")
    take = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
    pt, mask, px, py, pz = take(pt), take(mask), take(px), take(py), take(pz)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pt), where=pt > 0))
    # phi relative to the leading constituent first, so a jet straddling phi = +-pi is not torn apart.
    phi = np.arctan2(py, px)
    phi = np.mod(phi - phi[:, :1] + np.pi, 2 * np.pi) - np.pi
    total = pt.sum(axis=1, keepdims=True)
    weight = np.divide(pt, total, out=np.zeros_like(pt), where=total > 0)
    deta = np.where(mask, eta - (weight * eta).sum(axis=1, keepdims=True), 0.0)
    dphi = np.where(mask, phi - (weight * phi).sum(axis=1, keepdims=True), 0.0)
    cov = np.empty((len(pt), 2, 2))
    cov[:, 0, 0] = (weight * deta**2).sum(axis=1)
    cov[:, 1, 1] = (weight * dphi**2).sum(axis=1)
    cov[:, 0, 1] = cov[:, 1, 0] = (weight * deta * dphi).sum(axis=1)
    axis = np.linalg.eigh(cov)[1][:, :, 1]  # eigenvector of the larger eigenvalue, (n, 2) = (eta, phi)
    along = deta * axis[:, :1] + dphi * axis[:, 1:]
    off_centre = np.abs(along) > 1e-9
    first = np.argmax(off_centre, axis=1)[:, None]
    sign = np.where(np.take_along_axis(along, first, axis=1) < 0, -1.0, 1.0)
    axis = axis * sign
    rotated_eta = deta * axis[:, 1:] - dphi * axis[:, :1]
    rotated_phi = deta * axis[:, :1] + dphi * axis[:, 1:]
    points = np.stack([weight, rotated_eta, rotated_phi], axis=-1) * mask[..., None]
    out = np.zeros((len(pt), n_const, 3))
    out_mask = np.zeros((len(pt), n_const), dtype=bool)
    keep = min(n_const, points.shape[1])
    out[:, :keep], out_mask[:, :keep] = points[:, :keep], mask[:, :keep]
    return out, out_mask


def jet_images(constituents: np.ndarray, mask: np.ndarray, pixels: int, extent: float) -> np.ndarray:
    """(n, pixels, pixels) images of pT fraction per pixel over d-eta (rows) and d-phi (columns) in
    [-extent, extent], from every constituent, centred and rotated as in constituent_view. Constituents outside
    the window are left out, so an image sums to the pT fraction inside it (<= 1)."""
    points, kept = constituent_view(constituents, mask, constituents.shape[1])
    edges = np.linspace(-extent, extent, pixels + 1)
    row = np.searchsorted(edges, points[..., 1], side="right") - 1
    col = np.searchsorted(edges, points[..., 2], side="right") - 1
    inside = kept & (row >= 0) & (row < pixels) & (col >= 0) & (col < pixels)
    images = np.zeros((len(points), pixels * pixels))
    jet = np.broadcast_to(np.arange(len(points))[:, None], inside.shape)
    np.add.at(images, (jet[inside], row[inside] * pixels + col[inside]), points[..., 0][inside])
    return images.reshape(len(points), pixels, pixels)


class ConstituentTask(Task):
    """Reads one or more constituent tables; labels come from `is_signal_new` in each file."""

    sample_file: str

    views = ("features", "constituents", "image")

    def events(self, seed: int, view: str = "features") -> TaskEvents:
        s = self.settings
        if view == "constituents":  # per constituent: pT fraction, d-eta, d-phi, centred and rotated
            names = list(VIEW_FIELDS)
        elif view == "image":  # per pixel: pT fraction
            names = ["pt_fraction"]
        elif s["representation"] == "high_level":
            names = list(s["features"])
        else:
            names = [f"{f}_{i}" for i in range(int(s["view_constituents"])) for f in VIEW_FIELDS]
        max_jets = s["data"]["max_jets"]
        paths = self.files()
        blocks, labels, files = [], [], []
        for path in paths:
            n_read = 0
            for batch in iter_jets(path, max_jets=max_jets):
                blocks.append(self._view(view, batch.constituents, batch.mask, names))
                labels.append(batch.labels)
                n_read += len(batch)
            files.append({"path": str(path), "sha256": sha256_of(path), "jets_read": n_read})
        X, y = (np.ma.concatenate if view == "constituents" else np.concatenate)(blocks), np.concatenate(labels)
        dataset = {
            "name": self.name,
            "source": ", ".join(f["path"] for f in files),
            "embedded": not s["data"]["path"],
            "sha256": ", ".join(f["sha256"] for f in files),
            "files": files,
            "events": int(len(y)),
            "background": int((y == 0).sum()),
            "signal": int((y == 1).sum()),
        }
        cutflow = {
            "jets_read": int(len(y)),
            "max_jets_per_file": max_jets,
        }
        return TaskEvents(self.name, names, X, y, dataset, cutflow)

    def files(self) -> list[Path]:
        path = self.settings["data"]["path"]
        if not path:
            return [embedded_sample(self.sample_file)]
        return [Path(p) for p in ([path] if isinstance(path, str) else path)]

    def _view(self, view: str, constituents: np.ndarray, mask: np.ndarray, names: list[str]) -> np.ndarray:
        if view == "constituents":
            return self._constituents(constituents, mask)
        if view == "image":
            return jet_images(constituents, mask, int(self.settings["image_pixels"]),
                              float(self.settings["image_extent"]))
        return self._rows(constituents, mask, names)

    def _constituents(self, constituents: np.ndarray, mask: np.ndarray) -> np.ma.MaskedArray:
        points, kept = constituent_view(constituents, mask, int(self.settings["view_constituents"]))
        return np.ma.MaskedArray(points, mask=np.repeat(~kept[..., None], points.shape[-1], axis=-1))

    def _rows(self, constituents: np.ndarray, mask: np.ndarray, names: list[str]) -> np.ndarray:
        if self.settings["representation"] == "high_level":
            features = jet_features(constituents, mask)
            return np.column_stack([features[f] for f in names])
        points, _ = constituent_view(constituents, mask, int(self.settings["view_constituents"]))
        return points.reshape(len(points), -1)
