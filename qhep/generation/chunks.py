"""Deterministic, resumable, parallel event generation in fixed chunks.

Chunk i of a stream always uses the same Pythia seed and stops at the same number of selected events, so a
sample is bit-identical whatever the number of workers. Finished chunks are kept on disk in `<output>.parts/`:
an interrupted generation resumes from them instead of starting again. Once the output is written and reads back
whole, the chunk folder is removed (`install_output`).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qhep.errors import QhepError
from qhep.generation.pythia import (
    chunk_seed,
    make_pythia,
    silence_stdout,
    visible_final_state,
)
from qhep.progress import progress_bar

# Called per event with the visible final state (N, 4) px, py, pz, E, or with the Pythia event itself when
# generate_streams(raw_event=True) (for truth partons or invisible particles).
EventFn = Callable[[np.ndarray], "np.ndarray | None"]


@dataclass(frozen=True)
class Stream:
    """One physics process: Pythia settings, how many selected events, and the label they carry."""

    name: str
    settings: tuple[str, ...]
    n_events: int
    label: float


@dataclass
class CutFlow:
    generated: int = 0
    selected: int = 0
    failed: int = 0  # events Pythia itself rejected (next() returned False)
    sigma_mb: float = 0.0  # Pythia's estimate of the generated cross section (Info::sigmaGen) [mb]

    def add(self, other: CutFlow) -> None:
        # Every chunk estimates the same cross section: average the estimates, weighted by events generated.
        total = self.generated + other.generated
        if total:
            self.sigma_mb = (self.sigma_mb * self.generated + other.sigma_mb * other.generated) / total
        self.generated += other.generated
        self.selected += other.selected
        self.failed += other.failed


def _run_chunk(settings: tuple[str, ...], seed: int, n_selected: int, event_fn: EventFn, raw_event: bool = False):
    pythia = make_pythia(list(settings), seed)
    rows, flow = [], CutFlow()
    while len(rows) < n_selected:
        if not pythia.next():
            flow.failed += 1
            continue
        flow.generated += 1
        row = event_fn(pythia.event if raw_event else visible_final_state(pythia.event))
        if row is not None:
            rows.append(row)
    flow.selected = len(rows)
    flow.sigma_mb = pythia.infoPython().sigmaGen()
    return np.asarray(rows, dtype=np.float64), flow


def _fingerprint(stream: Stream, seed: int, chunk_size: int, event_fn: EventFn) -> str:
    text = json.dumps([stream.settings, seed, chunk_size, event_fn.__module__, event_fn.__qualname__])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def generate_streams(
    streams: list[Stream],
    event_fn: EventFn,
    seed: int,
    parts_dir: Path,
    chunk_size: int = 500,
    workers: int = 1,
    show_progress: bool = True,
    raw_event: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, CutFlow]]:
    """Generate every stream; returns selected-event rows and the cut flow per stream."""
    parts_dir.mkdir(parents=True, exist_ok=True)
    jobs = []  # (stream, chunk index, events in chunk, part file)
    for stream_id, stream in enumerate(streams):
        key = _fingerprint(stream, seed, chunk_size, event_fn)
        for chunk, start in enumerate(range(0, stream.n_events, chunk_size)):
            part = parts_dir / f"{stream.name}-{key}-{chunk:05d}.npz"
            jobs.append((stream_id, stream, chunk, min(chunk_size, stream.n_events - start), part))

    total = sum(s.n_events for s in streams)
    with progress_bar(total, "generating events", enabled=show_progress) as bar:
        pending = []
        with ProcessPoolExecutor(max_workers=workers, initializer=silence_stdout) as pool:
            for stream_id, stream, chunk, n, part in jobs:
                if part.exists():
                    bar.update(n)
                    continue
                future = pool.submit(_run_chunk, stream.settings, chunk_seed(seed, stream_id, chunk), n, event_fn,
                                     raw_event)
                future.add_done_callback(lambda f, n=n, part=part: _save_part(f, part, bar, n))
                pending.append(future)
            for future in pending:
                future.result()  # re-raise worker errors

    rows: dict[str, list[np.ndarray]] = {s.name: [] for s in streams}
    flows = {s.name: CutFlow() for s in streams}
    for _, stream, _, _, part in jobs:
        with np.load(part) as saved:
            rows[stream.name].append(saved["rows"])
            counts, sigma = saved["flow"][:3], saved["flow"][3:]  # parts saved before sigma_mb hold 3 values
            flows[stream.name].add(CutFlow(*(int(v) for v in counts), *(float(v) for v in sigma)))
    return {name: np.concatenate(r) for name, r in rows.items()}, flows


def parts_dir_of(output: Path) -> Path:
    """Where the finished chunks of `output` are kept until it is complete."""
    return output.with_name(output.name + ".parts")


def install_output(written: Path, output: Path, expected: int, count: Callable[[Path], int]) -> None:
    """Move the freshly written file `written` to `output` once `count` (a reader) finds the `expected` number
    of events in it, then remove the chunk folder; on any failure the chunks stay, for a rerun to resume from."""
    found = count(written)
    if found != expected:
        raise QhepError(f"{written}: holds {found} events after writing, expected {expected}; the finished "
                        f"chunks are kept in {parts_dir_of(output)}")
    written.replace(output)
    remove_parts(parts_dir_of(output))


# Only what generation writes is removed: anything else found in the folder stays, and the folder with it.
_PART_PATTERNS = ("*.npz", "*.slha")


def remove_parts(parts_dir: Path) -> None:
    if not parts_dir.is_dir():
        return
    for pattern in _PART_PATTERNS:
        for part in parts_dir.glob(pattern):
            part.unlink()
    if not any(parts_dir.iterdir()):
        parts_dir.rmdir()


def _save_part(future, part: Path, bar, n: int) -> None:
    if future.exception() is not None:
        return
    rows, flow = future.result()
    tmp = part.with_suffix(".tmp.npz")
    np.savez(tmp, rows=rows, flow=np.array([flow.generated, flow.selected, flow.failed, flow.sigma_mb]))
    tmp.replace(part)
    bar.update(n)
