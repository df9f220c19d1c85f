"""LHC Olympics 2020 R&D task: CATHODE-convention features from the published 15-column layout."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from qhep.formats.lhco import read_features
from qhep.tasks.base import Task, TaskEvents, embedded_sample, sha256_of

FEATURES = ("mjj", "mj_min", "delta_mj", "tau21_min", "tau21_max")
REGIONS = ("signal_region", "all")


def cathode_features(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """mjj, lighter-jet mass and mass difference [TeV], and tau21 of the lighter and heavier jet."""
    jets = []
    for j in (1, 2):
        p = frame[[f"pxj{j}", f"pyj{j}", f"pzj{j}"]].to_numpy()
        m = frame[f"mj{j}"].to_numpy()
        energy = np.sqrt((p**2).sum(axis=1) + m**2)
        tau21 = frame[f"tau2j{j}"].to_numpy() / (frame[f"tau1j{j}"].to_numpy() + 1e-5)
        jets.append((np.column_stack([p, energy]), m, tau21))
    (p1, m1, t1), (p2, m2, t2) = jets
    total = p1 + p2
    mjj = np.sqrt(np.maximum(total[:, 3] ** 2 - (total[:, :3] ** 2).sum(axis=1), 0.0))
    first_lighter = m1 <= m2
    return {
        "mjj": mjj / 1000.0,
        "mj_min": np.minimum(m1, m2) / 1000.0,
        "delta_mj": np.abs(m1 - m2) / 1000.0,
        "tau21_min": np.where(first_lighter, t1, t2),
        "tau21_max": np.where(first_lighter, t2, t1),
    }


class LHCOTask(Task):
    name = "lhco"
    conditions = ("mjj",)
    sample_file = "lhco.h5"

    def files(self) -> list[Path]:
        return [Path(self.settings["data"]["path"] or embedded_sample(self.sample_file))]

    def events(self, seed: int, view: str = "features") -> TaskEvents:
        s = self.settings
        (path,) = self.files()
        frame = read_features(path)
        features = cathode_features(frame)
        labels = frame["label"].to_numpy().astype(int)
        keep = np.ones(len(frame), dtype=bool)
        if s["region"] == "signal_region":
            low, high = s["signal_region"]
            keep = (features["mjj"] > low) & (features["mjj"] < high)
        X = np.column_stack([features[f][keep] for f in s["features"]])
        y = labels[keep]
        dataset = {
            "name": self.name,
            "source": str(path),
            "embedded": not s["data"]["path"],
            "sha256": sha256_of(path),
            "events": int(len(frame)),
            "background": int((labels == 0).sum()),
            "signal": int((labels == 1).sum()),
        }
        cutflow = {
            "region": s["region"],
            "removed_by_region_cut": {"background": int(((labels == 0) & ~keep).sum()),
                                      "signal": int(((labels == 1) & ~keep).sum())},
        }
        expected = None
        if s.get("injection"):  # the published injection, scaled by this file's region efficiencies
            expected = {"signal": s["injection"]["signal"] * float(keep[labels == 1].mean()),
                        "background": s["injection"]["background"] * float(keep[labels == 0].mean())}
        return TaskEvents(self.name, list(s["features"]), X, y, dataset, cutflow,
                          values={"mjj": features["mjj"][keep]}, expected_counts=expected)
