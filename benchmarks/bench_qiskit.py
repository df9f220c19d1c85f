"""Scoring on a Qiskit backend: N events as one parametrised circuit with N bindings, against one job per event.

The default QAE (4 qubits, 2 trash, 5 layers of Rot + CNOT ring) on Qiskit Aer's SamplerV2 at 1000 shots, with and
without FakeManilaV2's noise, measured side by side in one setup so the speed-up is a ratio taken on one machine
at one moment. Also the cost of one training step on the backend for each optimizer (Adam with parameter shift,
SPSA, QNG with the measured block-diagonal metric), in events/s.
"""
import time

import numpy as np
import torch

from qhep.quantum.ansatz import QAECircuit
from qhep.quantum.backends import AerBackend

CIRCUIT = QAECircuit(n_qubits=4, n_trash=2, n_layers=5, rotation="rot", entangler="ring")
SHOTS = 1000
BATCHED_EVENTS, PER_EVENT_EVENTS = 2000, 40  # enough for about a second of work on each path
STEP_BATCH = 32
NOISE = {"ideal": None, "FakeManilaV2": "fake:FakeManilaV2"}

# Pinned versions (asv hashes a benchmark's source otherwise, and an edit would start a new series): the hashes
# the series recorded so far in results/asv were made under.
SERIES = {
    "track_score_events_per_second":
        "ca70d6c7ea5c7481e8c5e674225ba011d4978413d1370205c5332b9ac08f0642",
    "track_speedup_of_one_pub_over_one_job_per_event":
        "2e721b6687658061982a94661bdb76a89546647304d35f783e43264a4d586dc1",
    "track_train_step_events_per_second":
        "a5045db525c7b6d98efb47d57c49ed3390d6d4dad080e567332a2b3e46453fbc",
}


def _events(n, seed=0):
    return torch.as_tensor(np.random.default_rng(seed).uniform(0, np.pi, (n, CIRCUIT.n_qubits)))


def _params():
    return torch.tensor(CIRCUIT.init_params(np.random.default_rng(1)))


@torch.no_grad()
def _score(engine, n, per_event):
    x, params = _events(n), _params()
    tic = time.perf_counter()
    if per_event:
        for i in range(n):
            engine.fidelity(x[i : i + 1], params)
    else:
        engine.fidelity(x, params)
    return n / (time.perf_counter() - tic)


def _train_step(engine, optimizer):
    from qhep.quantum.spsa import SPSA, fidelity_sets

    x, params = _events(STEP_BATCH), _params().requires_grad_(True)
    tic = time.perf_counter()
    if optimizer == "spsa":
        SPSA(params, 10, rng=np.random.default_rng(0)).step(lambda sets: 1 - fidelity_sets(engine, x, sets).mean(1))
    else:
        (1 - engine.fidelity(x, params).mean()).backward()
        if optimizer == "qng":
            engine.metric_tensor(x, params)
    return STEP_BATCH / (time.perf_counter() - tic)


def measure():
    rates = {}
    for name, noise in NOISE.items():
        engine = AerBackend(shots=SHOTS, noise=noise).engine(CIRCUIT)
        _score(engine, 10, per_event=False)  # warm-up: the one transpilation is not throughput
        rates[name] = {"batched": _score(engine, BATCHED_EVENTS, per_event=False),
                       "per_event": _score(engine, PER_EVENT_EVENTS, per_event=True)}
    engine = AerBackend(shots=SHOTS).engine(CIRCUIT)
    rates["train_step"] = {optimizer: _train_step(engine, optimizer) for optimizer in ("adam", "spsa", "qng")}
    return rates


class QiskitScoring:
    timeout = 900

    def setup_cache(self):
        return measure()

    def track_score_events_per_second(self, rates, noise, path):
        return rates[noise][path]

    track_score_events_per_second.params = (list(NOISE), ["batched", "per_event"])
    track_score_events_per_second.param_names = ["noise", "path"]
    track_score_events_per_second.unit = "events/s"
    track_score_events_per_second.version = SERIES["track_score_events_per_second"]

    def track_speedup_of_one_pub_over_one_job_per_event(self, rates, noise):
        return rates[noise]["batched"] / rates[noise]["per_event"]

    track_speedup_of_one_pub_over_one_job_per_event.params = list(NOISE)
    track_speedup_of_one_pub_over_one_job_per_event.param_names = ["noise"]
    track_speedup_of_one_pub_over_one_job_per_event.unit = "x"
    track_speedup_of_one_pub_over_one_job_per_event.version = SERIES["track_speedup_of_one_pub_over_one_job_per_event"]

    def track_train_step_events_per_second(self, rates, optimizer):
        return rates["train_step"][optimizer]

    track_train_step_events_per_second.params = ["adam", "spsa", "qng"]
    track_train_step_events_per_second.param_names = ["optimizer"]
    track_train_step_events_per_second.unit = "events/s"
    track_train_step_events_per_second.version = SERIES["track_train_step_events_per_second"]


if __name__ == "__main__":  # python -m benchmarks.bench_qiskit: the same figures without asv
    import json

    rates = measure()
    rates["speedup"] = {noise: rates[noise]["batched"] / rates[noise]["per_event"] for noise in NOISE}
    print(json.dumps(rates, indent=2))
