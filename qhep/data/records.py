"""The public Zenodo records behind each task, and which of their files a task uses.

Checksums and download links are not kept here: they come from each record's metadata at download time
(the Zenodo records API lists every file with its `checksum` "md5:..." and its link), so they cannot go stale.
"""
from __future__ import annotations

from dataclasses import dataclass

ZENODO_URL = "https://zenodo.org"
ZENODO_URL_VARIABLE = "QHEP_ZENODO_URL"  # points downloads at a mirror, or at a local server in the tests


@dataclass(frozen=True)
class ZenodoFiles:
    record: str  # Zenodo record id
    files: tuple[str, ...]  # file names ("keys") in that record
    what: str


# Keyed by task name (qhep.tasks.TASKS), plus lhco_raw for the hadron-level LHCO file.
DOWNLOADS: dict[str, tuple[ZenodoFiles, ...]] = {
    "lhco": (
        ZenodoFiles("4536377", ("events_anomalydetection_v2.features.h5",),
                    "LHC Olympics R&D jet features: 1M QCD + 100k W' signal events"),
        ZenodoFiles("5759087", ("events_anomalydetection_qcd_extra_inneronly_features.h5",),
                    "extra QCD events in the signal region, same features"),
    ),
    # The hadron-level file is several GB: fetched only when asked for by name.
    "lhco_raw": (
        ZenodoFiles("4536377", ("events_anomalydetection_v2.h5",),
                    "LHC Olympics R&D hadrons: up to 700 (pT, eta, phi) per event, Blosc-compressed"),
    ),
    "top": (
        ZenodoFiles("2603256", ("train.h5", "val.h5", "test.h5"),
                    "top tagging landscape: 1.2M / 400k / 400k jets, 200 constituents each"),
    ),
    "darkmachines": (
        ZenodoFiles("3961917", ("training_files.tar",), "Dark Machines unsupervised challenge, channels 1-3"),
        ZenodoFiles("4443151", ("secret_data.tar",), "Dark Machines secret (blinded) data set"),
    ),
    "svj": (
        ZenodoFiles("12801842", ("qcd_constit.h5", "aachen_constit.h5"),
                    "DarkCLR semi-visible jets: QCD and the Aachen signal, jet constituents"),
    ),
}


def task_for_file(name: str) -> str | None:
    """The `qhep data download` task whose records hold a file of this name (None if none does)."""
    return next((task for task, entries in DOWNLOADS.items() for entry in entries if name in entry.files), None)
