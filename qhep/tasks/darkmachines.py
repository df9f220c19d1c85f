"""Dark Machines unsupervised challenge: one signal region (channel) and one BSM process as the anomaly.

Every event of the data files is read (in blocks: the channel 3 background is 8.5M events), the channel
selection is applied as published, and each kept event becomes a row of high-level features or of its
pT-ordered objects. An event is signal when its process ID is the chosen signal; events of the other known
BSM processes (files of several signals in one folder) are left out and counted; everything else is background.

Views: `features` (N, F) rows, the high-level features or (`representation=objects`) the leading objects flattened;
`objects` (N, max_objects, 5) as a masked array of type, E, pT, eta, phi per object, the mask marking padding.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from qhep.errors import QhepError
from qhep.formats.compression import NAMES as COMPRESSION_NAMES
from qhep.formats.compression import file_compression
from qhep.formats.darkmachines import (
    ANTIMUON,
    BJET,
    ELECTRON,
    JET,
    MUON,
    OBJECT_FIELDS,
    PHOTON,
    POSITRON,
    Events,
    data_files,
    empty_events,
    iter_events,
)
from qhep.tasks.base import Task, TaskData, TaskEvents, embedded_sample, sha256_of

SAMPLE_FILE = "darkmachines.csv.gz"
JETS, LEPTONS = (JET, BJET), (ELECTRON, POSITRON, MUON, ANTIMUON)
LEADING = {"jet": (JETS, 4), "bjet": ((BJET,), 1), "lepton": (LEPTONS, 2), "photon": ((PHOTON,), 1)}
FEATURES = (
    "met", "met_phi", "ht", "meff", "n_jets", "n_bjets", "n_electrons", "n_muons", "n_leptons", "n_photons",
    *(f"{kind}{i}_{v}" for kind, (_, n) in LEADING.items() for i in range(1, n + 1) for v in ("pt", "eta", "phi")),
)
REPRESENTATIONS = ("high_level", "objects")  # of the features view


def count(events: Events, types: tuple[int, ...], pt_above: float = 0.0) -> np.ndarray:
    """Objects of the given types with pT > pt_above, per event."""
    hit = np.isin(events.obj_type, types) & (events.obj_pt > pt_above)
    return np.bincount(events.owner, weights=hit, minlength=len(events)).astype(np.int64)


def ht(events: Events) -> np.ndarray:
    """Scalar sum of the pT of all jets, light and b-tagged."""
    jets = np.isin(events.obj_type, JETS)
    return np.bincount(events.owner, weights=np.where(jets, events.obj_pt, 0.0), minlength=len(events))


def channel_cuts(events: Events, channel: str) -> list[tuple[str, np.ndarray]]:
    """The published selection of a channel as (cut, passes) in order; GeV."""
    met, h = events.met, ht(events)
    ratio = np.divide(met, h, out=np.full(len(events), np.inf), where=h > 0)
    cuts = {
        "1": [("MET >= 200", met >= 200), ("MET/HT >= 0.2", ratio >= 0.2),
              (">= 4 jets pT > 50", count(events, JETS, 50) >= 4), (">= 1 jet pT > 200", count(events, JETS, 200) >= 1),
              ("HT >= 600", h >= 600)],
        "2a": [("MET >= 50", met >= 50), (">= 3 leptons pT > 15", count(events, LEPTONS, 15) >= 3)],
        "2b": [("MET >= 50", met >= 50), (">= 2 leptons pT > 15", count(events, LEPTONS, 15) >= 2),
               ("HT >= 50", h >= 50)],
        "3": [("MET >= 100", met >= 100), ("HT >= 600", h >= 600)],
    }
    if channel not in cuts:
        raise QhepError(f"task.channel: unknown {channel!r}; choose one of: {', '.join(cuts)}")
    return cuts[channel]


CHANNELS = ("1", "2a", "2b", "3")


def in_channel(events: Events, channel: str) -> np.ndarray:
    keep = np.ones(len(events), dtype=bool)
    for _, passes in channel_cuts(events, channel):
        keep &= passes
    return keep


def leading(events: Events, types: tuple[int, ...], n: int) -> np.ndarray:
    """(N, n, 3) pT, eta, phi of the n leading objects of the given types; zeros where there are fewer."""
    out = np.zeros((len(events), n, 3))
    index = np.flatnonzero(np.isin(events.obj_type, types))
    owner = events.owner[index]
    index = index[np.lexsort((-events.obj_pt[index], owner))]
    owner = events.owner[index]
    first = np.searchsorted(owner, owner, side="left")  # position of each event's first object in `index`
    rank = np.arange(len(index)) - first
    fits = rank < n
    for k, values in enumerate((events.obj_pt, events.obj_eta, events.obj_phi)):
        out[owner[fits], rank[fits], k] = values[index[fits]]
    return out


def high_level_features(events: Events) -> dict[str, np.ndarray]:
    """MET, HT, multiplicities and leading-object kinematics [GeV]; absent objects give 0."""
    h = ht(events)
    features = {
        "met": events.met, "met_phi": events.met_phi, "ht": h, "meff": h + events.met,
        "n_jets": count(events, JETS), "n_bjets": count(events, (BJET,)),
        "n_electrons": count(events, (ELECTRON, POSITRON)), "n_muons": count(events, (MUON, ANTIMUON)),
        "n_leptons": count(events, LEPTONS), "n_photons": count(events, (PHOTON,)),
    }
    for kind, (types, n) in LEADING.items():
        values = leading(events, types, n)
        for i in range(n):
            for k, v in enumerate(("pt", "eta", "phi")):
                features[f"{kind}{i + 1}_{v}"] = values[:, i, k]
    return {name: np.asarray(features[name], dtype=np.float64) for name in FEATURES}


def object_columns(max_objects: int) -> list[str]:
    return [f"obj{i}_{field}" for i in range(1, max_objects + 1) for field in OBJECT_FIELDS]


class DarkMachinesTask(Task):
    name = "darkmachines"
    views = ("features", "objects")

    def seeded(self) -> bool:
        return self.settings["max_background_events"] is not None  # a seeded sample of the background

    def files(self) -> list[Path]:
        """The files to read: the given ones, and every data file of a given folder (see data_files)."""
        given = self.settings["data"]["path"]
        if not given:
            return [embedded_sample(SAMPLE_FILE)]
        paths = [Path(p) for p in ([given] if isinstance(given, (str, Path)) else given)]
        files = []
        for path in paths:
            files += data_files(path) if path.is_dir() else [path]
        return files

    def events(self, seed: int, view: str = "features") -> TaskEvents:
        s = self.settings
        channel, signal = str(s["channel"]), str(s["signal"])
        other_signals = set(map(str, s["bsm_processes"])) - {signal}
        if view == "objects":
            columns = list(OBJECT_FIELDS)
        else:
            columns = list(s["features"]) if s["representation"] == "high_level" else object_columns(int(s["max_objects"]))
        reservoir = _Reservoir(s["max_background_events"], seed)
        kept_signal: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        flow = {"events_read": 0, "other_bsm_removed": 0,
                "events_with_objects_beyond_max_objects": 0,
                "removed_by_cut": {name: {"background": 0, "signal": 0}
                                   for name, _ in channel_cuts(empty_events(), channel)}}
        sources, found = [], set()
        files = self.files()
        for path in files:
            n_file = 0
            for events in iter_events(path):
                n_file += len(events)
                found.update(np.unique(events.process).tolist())
                other = np.isin(events.process, list(other_signals))
                flow["other_bsm_removed"] += int(other.sum())
                events = events.select(~other)
                is_signal = events.process == signal
                keep = np.ones(len(events), dtype=bool)
                for name, passes in channel_cuts(events, channel):
                    removed = keep & ~passes
                    flow["removed_by_cut"][name]["signal"] += int((removed & is_signal).sum())
                    flow["removed_by_cut"][name]["background"] += int((removed & ~is_signal).sum())
                    keep &= passes
                events, is_signal = events.select(keep), is_signal[keep]
                X, beyond = self._rows(events, columns, view)
                flow["events_with_objects_beyond_max_objects"] += beyond
                rows = (X, events.weight, events.process)
                kept_signal.append(tuple(a[is_signal] for a in rows))
                reservoir.add(*(a[~is_signal] for a in rows))
            flow["events_read"] += n_file
            sources.append({"file": str(path), "sha256": sha256_of(path), "events": n_file,
                            "compression": COMPRESSION_NAMES[file_compression(path)]})
        background = reservoir.result()
        signal_rows = [np.concatenate([part[k] for part in kept_signal]) for k in range(3)] if kept_signal else None
        n_sig = len(signal_rows[0]) if signal_rows else 0
        if n_sig == 0:
            raise QhepError(f"task {self.name}: no events of signal {signal!r} in channel {channel}; "
                            f"process IDs in the data: {', '.join(sorted(found))}")
        if len(background[0]) == 0:
            raise QhepError(f"task {self.name}: no background events in channel {channel}")
        X = np.concatenate([background[0], signal_rows[0]])
        if view == "objects":  # type 0 marks padding (every real object has a type of 1 to 7)
            X = np.ma.MaskedArray(X, mask=np.repeat(X[..., :1] == 0, X.shape[-1], axis=-1))
        weight = np.concatenate([background[1], signal_rows[1]])
        process = np.concatenate([background[2], signal_rows[2]])
        y = np.concatenate([np.zeros(len(background[0]), dtype=int), np.ones(n_sig, dtype=int)])
        flow.update({
            "channel": channel, "signal": signal,
            "background_in_channel": reservoir.seen, "background_kept": int(len(background[0])),
            "signal_in_channel": n_sig,
        })
        dataset = {
            "name": self.name, "source": ", ".join(str(p) for p in files), "embedded": not s["data"]["path"],
            # One digest for the whole input: the file's own, or that of the files' digests in order.
            "sha256": sources[0]["sha256"] if len(sources) == 1 else
            hashlib.sha256("".join(f["sha256"] for f in sources).encode()).hexdigest(),
            "files": sources, "events": flow["events_read"],
            "background": int((y == 0).sum()), "signal": n_sig,
        }
        return TaskEvents(self.name, columns, X, y, dataset, flow, values={"weight": weight, "process": process})

    def _rows(self, events: Events, columns: list[str], view: str) -> tuple[np.ndarray, int]:
        """The events' rows in the view, and how many events had objects beyond max_objects."""
        if view == "objects" or self.settings["representation"] == "objects":
            objects, beyond = events.padded(int(self.settings["max_objects"]))
            return (objects if view == "objects" else objects.reshape(len(events), len(columns))), int((beyond > 0).sum())
        features = high_level_features(events)
        return np.column_stack([features[c] for c in columns]) if len(events) else np.zeros((0, len(columns))), 0

    def metrics(self, data: TaskData, scores: np.ndarray, statistics=None) -> dict:
        """The challenge's figures of merit on the test set: eps_S and SI at eps_B = 1e-2, 1e-3, 1e-4."""
        from qhep.harness.darkmachines_metrics import significance_improvement

        weights = data.test_values["weight"] if self.settings["weighted_metrics"] else None
        return significance_improvement(data.test.y, scores, weights, statistics)


class _Reservoir:
    """At most `limit` background rows, a uniform seeded sample of all offered (every row when limit is None).

    Each row draws a random key and the rows with the smallest keys stay: memory is bounded by limit + one block,
    and the sample does not depend on how the rows were split into blocks.
    """

    def __init__(self, limit: int | None, seed: int):
        # A stream of its own, apart from the one the train/test split draws from the same seed.
        self.limit, self.rng, self.seen = limit, np.random.default_rng([seed, 1]), 0
        self.parts: list[tuple] = []
        self.keys = np.zeros(0)

    def add(self, *arrays: np.ndarray) -> None:
        self.seen += len(arrays[0])
        keys = self.rng.random(len(arrays[0]))
        self.parts.append(arrays)
        self.keys = np.concatenate([self.keys, keys])
        if self.limit is not None and len(self.keys) > 2 * self.limit:
            self._shrink()

    def _shrink(self) -> None:
        merged = [np.concatenate([p[k] for p in self.parts]) for k in range(len(self.parts[0]))]
        keep = np.sort(np.argsort(self.keys, kind="stable")[: self.limit])  # keep file order among survivors
        self.parts, self.keys = [tuple(a[keep] for a in merged)], self.keys[keep]

    def result(self) -> list[np.ndarray]:
        if not self.parts:
            return [np.zeros((0, 0)), np.zeros(0), np.zeros(0, dtype=str)]
        if self.limit is not None and len(self.keys) > self.limit:
            self._shrink()
        return [np.concatenate([p[k] for p in self.parts]) for k in range(len(self.parts[0]))]
