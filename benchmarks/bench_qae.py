"""QAE training and inference throughput: the fast engine against PennyLane broadcasting and the published loop.

All three run the same circuit (8 qubits, 2 trash, 3 layers of Rot + CNOT ring) on the same events, measured
side by side in one setup so that the speed-ups are ratios taken on one machine at one moment.
Targets: fast-engine training >= 1000x the published loop and >= 100x broadcasting; inference >= 1e5 events/s.
"""
import time

import numpy as np
import torch

from qhep.quantum.ansatz import QAECircuit
from qhep.quantum.fast import FastEngine
from qhep.quantum.pennylane_engine import PennyLaneEngine
from qhep.quantum.published_loop import PublishedQAELoop

CIRCUIT = QAECircuit(n_qubits=8, n_trash=2, n_layers=3, rotation="rot", entangler="ring")
ENGINES = ["fast", "default.qubit-broadcast", "published-loop"]
# Events per measurement: enough for ~1 s or more of work on each path.
TRAIN_EVENTS = {"fast": 65536, "default.qubit-broadcast": 512, "published-loop": 6}
SCORE_EVENTS = {"fast": 200_000, "default.qubit-broadcast": 4096, "published-loop": 40}
BATCH = 1024  # training batch for the batched engines, the same for both
LARGE_BATCH = 8192  # the fast engine's own operating point: its fixed cost per step is shared by more events

# Pinned versions (asv hashes a benchmark's source otherwise, and an edit would start a new series): the hashes
# the series recorded so far in results/asv were made under.
SERIES = {
    "track_train_events_per_second":
        "096ce294e79d9b272790e67af872f4adef04d408a868bd01c94ae8de4662ade6",
    "track_score_events_per_second":
        "ff662f423103ddd9080fb02c1f3739db888990fa50003971936640d3a0d27be5",
    "track_train_speedup_of_fast_engine":
        "75bef2d1920f16f4152b0029270e689808f7346d81e0fed12374534b35162dc7",
    "track_train_events_per_second_fast_large_batch":
        "f6fb248d75ad45ca6155e13e8e1988ce4c2e7e5e7b36339e3cbf6c0639ad1b4e",
    "track_train_speedup_of_fast_engine_large_batch_over_broadcast":
        "4292fa1ce5400fee545763859871071f75b7239fdb8c0568e727b682adb2fb4e",
    "track_score_speedup_of_fast_engine":
        "83c5a922234dc63e322cef095dca46fee92639eae5e0b060735ba1de739c6e84",
}


def _events(n, seed=0):
    return torch.as_tensor(np.random.default_rng(seed).uniform(0, np.pi, (n, CIRCUIT.n_qubits)))


def _train_batched(engine, n, batch=BATCH):
    x = _events(n)
    params = torch.tensor(CIRCUIT.init_params(np.random.default_rng(1)), requires_grad=True)
    optimiser = torch.optim.Adam([params], lr=0.01)
    tic = time.perf_counter()
    for start in range(0, n, batch):
        optimiser.zero_grad()
        (1 - engine.fidelity(x[start : start + batch], params).mean()).backward()
        optimiser.step()
    return n / (time.perf_counter() - tic)


@torch.no_grad()
def _score_batched(engine, n):
    x, params = _events(n), torch.tensor(CIRCUIT.init_params(np.random.default_rng(1)))
    tic = time.perf_counter()
    engine.fidelity(x, params)
    return n / (time.perf_counter() - tic)


def _loop(n, train):
    loop, x = PublishedQAELoop(CIRCUIT), _events(n).numpy()
    params = CIRCUIT.init_params(np.random.default_rng(1))
    tic = time.perf_counter()
    for event in x:
        if train:
            params = loop.train_step(event, params)
        else:
            loop.fidelity(event, params)
    return n / (time.perf_counter() - tic)


def measure():
    """Training and scoring events/s of every path, measured one after the other."""
    fast, broadcast = FastEngine(CIRCUIT), PennyLaneEngine(CIRCUIT, "default.qubit", "backprop")
    _train_batched(fast, BATCH)  # warm-up: first-call costs are not throughput
    return {
        "train": {
            "fast": _train_batched(fast, TRAIN_EVENTS["fast"]),
            "default.qubit-broadcast": _train_batched(broadcast, TRAIN_EVENTS["default.qubit-broadcast"]),
            "published-loop": _loop(TRAIN_EVENTS["published-loop"], train=True),
            "fast-large-batch": _train_batched(fast, 4 * TRAIN_EVENTS["fast"], LARGE_BATCH),
        },
        "score": {
            "fast": _score_batched(fast, SCORE_EVENTS["fast"]),
            "default.qubit-broadcast": _score_batched(broadcast, SCORE_EVENTS["default.qubit-broadcast"]),
            "published-loop": _loop(SCORE_EVENTS["published-loop"], train=False),
        },
    }


class QAEThroughput:
    timeout = 900

    def setup_cache(self):
        return measure()

    def track_train_events_per_second(self, rates, engine):
        return rates["train"][engine]

    track_train_events_per_second.params = ENGINES
    track_train_events_per_second.param_names = ["engine"]
    track_train_events_per_second.unit = "events/s"
    track_train_events_per_second.version = SERIES["track_train_events_per_second"]

    def track_score_events_per_second(self, rates, engine):
        return rates["score"][engine]

    track_score_events_per_second.params = ENGINES
    track_score_events_per_second.param_names = ["engine"]
    track_score_events_per_second.unit = "events/s"
    track_score_events_per_second.version = SERIES["track_score_events_per_second"]

    def track_train_speedup_of_fast_engine(self, rates, baseline):
        return rates["train"]["fast"] / rates["train"][baseline]

    track_train_speedup_of_fast_engine.params = ENGINES[1:]
    track_train_speedup_of_fast_engine.param_names = ["baseline"]
    track_train_speedup_of_fast_engine.unit = "x"
    track_train_speedup_of_fast_engine.version = SERIES["track_train_speedup_of_fast_engine"]

    def track_train_events_per_second_fast_large_batch(self, rates):
        return rates["train"]["fast-large-batch"]

    track_train_events_per_second_fast_large_batch.unit = "events/s"
    track_train_events_per_second_fast_large_batch.version = SERIES["track_train_events_per_second_fast_large_batch"]

    def track_train_speedup_of_fast_engine_large_batch_over_broadcast(self, rates):
        return rates["train"]["fast-large-batch"] / rates["train"]["default.qubit-broadcast"]

    track_train_speedup_of_fast_engine_large_batch_over_broadcast.unit = "x"
    track_train_speedup_of_fast_engine_large_batch_over_broadcast.version = SERIES["track_train_speedup_of_fast_engine_large_batch_over_broadcast"]

    def track_score_speedup_of_fast_engine(self, rates, baseline):
        return rates["score"]["fast"] / rates["score"][baseline]

    track_score_speedup_of_fast_engine.params = ENGINES[1:]
    track_score_speedup_of_fast_engine.param_names = ["baseline"]
    track_score_speedup_of_fast_engine.unit = "x"
    track_score_speedup_of_fast_engine.version = SERIES["track_score_speedup_of_fast_engine"]


# Fitting and scoring the qae method (the default circuit on 4 inputs) on each backend, through the method's own
# fit / anomaly_score, at sizes that take about a second each. Scoring fits on the exact engine first
# (method.train_backend=fast), so that its setup is cheap; the timed part is scoring on the backend.
BACKEND_NAMES = ["fast", "default.qubit", "lightning.qubit", "aer"]
FIT_EVENTS = {"fast": 2048, "default.qubit": 256, "lightning.qubit": 64, "aer": 16}
SCORE_EVENTS_METHOD = {"fast": 65536, "default.qubit": 2048, "lightning.qubit": 48, "aer": 512}


def _qae(backend_name, **settings):
    """A qae estimator on the named backend preset, or NotImplementedError (asv: n/a) where the commit lacks it."""
    try:
        from qhep.methods.qae import QAEConfig, QuantumAutoencoder
        from qhep.quantum.backends import BACKENDS

        return QuantumAutoencoder(QAEConfig(**settings), seed=0, backend=BACKENDS[backend_name], progress=False)
    except (ImportError, KeyError, TypeError) as exc:
        raise NotImplementedError(f"qae on {backend_name} at this commit: {exc}") from None


def _features(n, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 4))


class QAEFit:
    """Wall time and peak memory of qae's fit (one epoch, batches of 16) on each backend."""

    version = "1"
    params = BACKEND_NAMES
    param_names = ["backend"]
    timeout = 300
    number, repeat, rounds, warmup_time = 1, (1, 3, 10.0), 1, 0

    def setup(self, backend):
        self.x = _features(FIT_EVENTS[backend])
        self.model = _qae(backend, epochs=1, batch_size=16)

    def time_fit(self, backend):
        self.model.fit(self.x)

    def peakmem_fit(self, backend):
        self.model.fit(self.x)


class QAEScore:
    """Wall time and peak memory of qae's anomaly_score on each backend (trained on the exact engine)."""

    version = "1"
    params = BACKEND_NAMES
    param_names = ["backend"]
    timeout = 300
    number, repeat, rounds, warmup_time = 1, (1, 3, 10.0), 1, 0

    def setup(self, backend):
        self.x = _features(SCORE_EVENTS_METHOD[backend], seed=1)
        try:
            self.model = _qae(backend, epochs=1, train_backend="fast").fit(_features(256))
        except TypeError as exc:  # no train_backend at this commit
            raise NotImplementedError(str(exc)) from None

    def time_score(self, backend):
        self.model.anomaly_score(self.x)

    def peakmem_score(self, backend):
        self.model.anomaly_score(self.x)


if __name__ == "__main__":  # python -m benchmarks.bench_qae: the same figures without asv
    import json

    rates = measure()
    rates["speedup"] = {kind: {b: rates[kind]["fast"] / rates[kind][b] for b in ENGINES[1:]} for kind in rates}
    rates["speedup"]["train_large_batch_over_broadcast"] = (rates["train"]["fast-large-batch"]
                                                            / rates["train"]["default.qubit-broadcast"])
    print(json.dumps(rates, indent=2))
