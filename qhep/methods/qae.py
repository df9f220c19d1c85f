"""Variational quantum autoencoder (Ngairangbam, Spannowsky & Takeuchi, arXiv:2112.04958 and successors).

Features are min-max scaled to angles in [0, pi] on the training set (unseen values are clipped), one qubit
per feature. Training maximises the mean trash fidelity with Adam, quantum natural gradient or SPSA; the
anomaly score is 1 - trash fidelity. The backend that runs the circuit is the run's `backend` setting.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.preprocessing import MinMaxScaler

from qhep.errors import QhepError
from qhep.methods.base import AnomalyDetector, NamedConfiguration, train_epochs
from qhep.quantum.ansatz import ENCODINGS, ENTANGLERS, ROTATIONS, QAECircuit
from qhep.quantum.backends import BACKENDS, FastBackend, execution, submitting
from qhep.quantum.fast import METRIC_APPROX
from qhep.quantum.qng import QNGOptimizer
from qhep.quantum.spsa import SPSA, fidelity_sets
from qhep.settings import Choice, Number, setting

OPTIMIZERS = ("adam", "qng", "spsa")
MAX_LAYERS = 1000  # beyond this a circuit only costs memory: n_layers=1e5 would build gigabytes before refusing


@dataclass
class QAEConfig:
    name: str = "qae"
    n_trash: int = setting(2, Number(int, ge=1))
    n_layers: int = setting(5, Number(int, ge=1, le=MAX_LAYERS))
    rotation: str = setting("rot", Choice(tuple(ROTATIONS)))
    entangler: str = setting("ring", Choice(ENTANGLERS))
    encoding: str = setting("rx", Choice(tuple(ENCODINGS)))
    optimizer: str = setting("adam", Choice(OPTIMIZERS))
    lr: float = setting(0.05, Number(float, gt=0))
    epochs: int = setting(20, Number(int, ge=1))
    batch_size: int = setting(128, Number(int, ge=1))
    qng_approx: str = setting("block-diag", Choice(METRIC_APPROX))
    qng_lam: float = setting(0.01, Number(float, ge=0))
    qng_metric_events: int = setting(32, Number(int, ge=1))  # events the batch-averaged metric is estimated on
    spsa_c: float = setting(0.2, Number(float, gt=0))  # SPSA perturbation size c (lr is the first step's gain)
    score_batch_size: int = setting(65536, Number(int, ge=1))
    # e.g. "fast": train on this backend, score on the run's backend
    train_backend: str | None = setting(None, Choice(tuple(BACKENDS), optional=True))


class QuantumAutoencoder(AnomalyDetector):
    name = "qae"
    # structure (depth, rotation, entangling pattern) and the optimiser's step: 48 points, a budget samples them
    search_space = {"n_layers": (1, 2, 3, 5), "rotation": ("ry", "rot"), "entangler": ("ring", "linear"),
                    "lr": (0.01, 0.05, 0.1)}
    quantum = True
    classical_twin = "ae"  # the classical autoencoder on the same features and training events
    runtime = ("progress", "backend", "engine")  # a restored model scores on the run's own backend
    detachable = True  # with training here (method.train_backend), the scoring jobs go out at once
    named_configurations = {
        "ngairangbam2021": NamedConfiguration(
            settings={"rotation": "ry", "entangler": "all", "n_layers": 2, "optimizer": "qng", "lr": 0.01},
            source="arXiv:2112.04958 (Ngairangbam, Spannowsky & Takeuchi, Anomaly detection in high-energy physics "
                   "using a quantum autoencoder)",
            description=("the published QAE: RX encoding in [0, pi], one RY per qubit then a CNOT on every pair, 2 "
                         "layers (8 parameters on 4 qubits), QNG at lr 0.01 as in their code; qhep's departures: "
                         "exact trash fidelity (not a 5000-shot SWAP test), batches of 128 (not 1) with the "
                         "block-diagonal metric on 32 events, 20 epochs, n_trash 2")),
    }

    def __init__(self, config: QAEConfig, seed: int = 0, backend=None, progress: bool = True):
        self.config, self.seed, self.progress = config, seed, progress
        self.backend = backend or FastBackend()
        self.scaler = MinMaxScaler(feature_range=(0.0, np.pi), clip=True)
        self.circuit: QAECircuit | None = None
        self.engine = None
        self.params: torch.Tensor | None = None
        self.history: list[float] = []
        self.training_execution: dict | None = None  # what training ran on a Qiskit backend (jobs, modes, time)

    @classmethod
    def settings_problems(cls, config: QAEConfig, backend_class) -> list[str]:
        trainer = type(BACKENDS[config.train_backend]) if config.train_backend else backend_class
        if config.optimizer == "qng" and config.qng_approx not in trainer.metric_approx:
            where = f"method.train_backend={config.train_backend}" if config.train_backend else "this backend"
            return [f"method.qng_approx={config.qng_approx}: {where} computes the "
                    f"{' or '.join(trainer.metric_approx)} metric tensor (the full one needs Hadamard tests on an "
                    "extra qubit); use method.qng_approx=block-diag, or train on the exact engine with "
                    "method.train_backend=fast"]
        return []

    @classmethod
    def detach_problems(cls, config: QAEConfig, backend_class) -> list[str]:
        # Training on the run's backend is step by step (each step's weights need the last step's results), so
        # only the first step could be submitted: not worth a second copy of fit's batching. Train here instead.
        if not cls.fits_locally(config):
            where = f"method.train_backend={config.train_backend}" if config.train_backend else "the run's backend"
            return [(f"detach=true: qae trains on {where} step by step (each step needs the last one's results); "
                     "set method.train_backend=fast to train here and detach the scoring jobs")]
        return []

    def detach(self, train_x: np.ndarray, test_x: np.ndarray, train_y: np.ndarray | None = None) -> list[str]:
        """Fit here (method.train_backend) unless fitted already, then submit every scoring job on the run's
        backend without waiting: the rows anomaly_score runs, so that it collects these jobs by id."""
        found = self.detach_problems(self.config, type(self.backend))
        if found:
            raise QhepError(found[0])
        if self.params is None:
            self.fit(train_x, train_y)
        submitting(self.engine, self.backend)
        with execution(self.engine, "score"):
            return [job for batch in self._score_batches(test_x)
                    for job in self.engine.submit_fidelity(batch, self.params)]

    def check_inputs(self, n_features: int) -> None:
        k = self.config.n_trash
        if n_features < 2:
            raise QhepError(f"method qae needs at least 2 inputs (one qubit each), got {n_features}: give the task "
                            "more features")
        if k >= n_features:
            raise QhepError(f"method.n_trash={k} leaves no latent qubit for {n_features} inputs: set "
                            f"method.n_trash={n_features - 1} or less, or give the task more features")

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> QuantumAutoencoder:
        c = self.config
        self.circuit = QAECircuit(X.shape[1], c.n_trash, c.n_layers, c.rotation, c.entangler, c.encoding)
        # "Pre-train on the exact engine, score on hardware": the training engine may differ from the scoring one.
        trainer = BACKENDS[c.train_backend] if c.train_backend else self.backend
        self.engine = trainer.engine(self.circuit)
        rng = np.random.default_rng(self.seed)
        self.params = torch.tensor(self.circuit.init_params(rng), dtype=torch.float64, requires_grad=True)
        x = torch.as_tensor(self.scaler.fit_transform(X), dtype=torch.float64)
        if c.optimizer == "adam":
            adam = torch.optim.Adam([self.params], lr=c.lr)
        elif c.optimizer == "qng":
            qng = QNGOptimizer(self.params, lr=c.lr, lam=c.qng_lam)
        else:
            steps = c.epochs * -(-len(x) // c.batch_size)
            spsa = SPSA(self.params, steps, lr=c.lr, c=c.spsa_c, rng=np.random.default_rng([self.seed, 1]))

        def step(batch):
            if c.optimizer == "spsa":
                return spsa.step(lambda sets: 1.0 - fidelity_sets(self.engine, x[batch], sets).mean(dim=1))
            self.params.grad = None
            loss = 1.0 - self.engine.fidelity(x[batch], self.params).mean()
            loss.backward()
            if c.optimizer == "adam":
                adam.step()
            else:
                qng.step(self.engine.metric_tensor(x[batch[: c.qng_metric_events]], self.params, c.qng_approx))
            return loss.item()

        with execution(self.engine, "train"):
            self.history = train_epochs(len(x), c.epochs, c.batch_size, rng, step, self.progress,
                                        f"training qae ({self.engine.name}, {c.optimizer})")
        if hasattr(self.engine, "resources"):
            self.training_execution = self.engine.resources()
        if c.train_backend:
            self.use_backend(self.backend)
        return self

    def restored(self) -> None:
        self.use_backend(self.backend)

    def use_backend(self, backend) -> None:
        """Score on another backend from now on: a trained model moves without retraining (sweeps reuse it)."""
        self.backend = backend
        if self.circuit is not None:
            self.engine = backend.engine(self.circuit)

    @torch.no_grad()
    def anomaly_score(self, X: np.ndarray) -> np.ndarray:
        with execution(self.engine, "score"):
            fidelity = torch.cat([self.engine.fidelity(batch, self.params) for batch in self._score_batches(X)])
        return (1.0 - fidelity).numpy()

    def _score_batches(self, X: np.ndarray) -> list[torch.Tensor]:
        """The events as angles, in the batches scoring runs (and detach submits) them in."""
        x = torch.as_tensor(self.scaler.transform(X), dtype=torch.float64)
        size = self.config.score_batch_size
        return [x[i : i + size] for i in range(0, len(x), size)]

    def dry_run(self, n_features: int, n_test: int, n_train: int = 0) -> dict:
        """What training on n_train events (when it runs on this backend) and scoring n_test events would submit,
        without submitting anything: transpiled-circuit figures, bindings, jobs, shots, estimated QPU time."""
        c = self.config
        circuit = QAECircuit(n_features, c.n_trash, c.n_layers, c.rotation, c.entangler, c.encoding)
        engine = self.backend.engine(circuit)
        report = {**engine.circuit_figures(), "scoring": engine.plan(n_test)}
        if n_train and not c.train_backend:
            batches = [min(c.batch_size, n_train - start) for start in range(0, n_train, c.batch_size)]
            per_event = 2 if c.optimizer == "spsa" else 2 * circuit.n_params + 1  # SPSA, or parameter shift
            metric = len(engine.metric_layers()) if c.optimizer == "qng" else 0  # one PUB per layer, own job
            per_step = [b * per_event + metric * min(b, c.qng_metric_events) for b in batches]
            jobs = sum(-(-n // engine.bindings_per_job()) + (c.optimizer == "qng") for n in per_step)
            report["training"] = {"optimizer": c.optimizer, "steps": c.epochs * len(batches),
                                  **engine.plan(c.epochs * sum(per_step), c.epochs * jobs)}
        return report

    def estimate_seconds(self, n_features: int, n_train: int, n_test: int) -> dict | None:
        """Wall time of training (where it runs on a backend other than the exact engine) and of scoring, from a
        timed sample of each on a local simulator, or the device's own durations on hardware."""
        c = self.config
        trainer = BACKENDS[c.train_backend] if c.train_backend else self.backend
        stages = {}
        if not isinstance(trainer, FastBackend) and n_train:
            stages["training"] = self._stage_seconds(trainer, n_features, n_train, training=True)
        if not isinstance(self.backend, FastBackend):
            stages["scoring"] = self._stage_seconds(self.backend, n_features, n_test, training=False)
        if not stages:
            return None
        basis = "timed sample" if type(self.backend).timed_locally else "device instruction durations, no queue"
        return {"seconds": sum(stages.values()), "stages": stages, "basis": basis}

    def _stage_seconds(self, backend, n_features: int, n_events: int, training: bool) -> float:
        c = self.config
        stage = "training" if training else "scoring"
        if not type(backend).timed_locally:  # hardware: what the plan says the QPU spends
            seconds = self.dry_run(n_features, n_events, n_train=n_events if training else 0)[stage]
            return float("inf") if seconds.get("estimated_qpu_seconds") is None else seconds["estimated_qpu_seconds"]
        circuit = QAECircuit(n_features, c.n_trash, c.n_layers, c.rotation, c.entangler, c.encoding)
        engine = backend.engine(circuit)
        rng = np.random.default_rng(self.seed)
        x = rng.uniform(0, np.pi, (64, n_features))
        params = torch.tensor(circuit.init_params(rng), dtype=torch.float64)
        if hasattr(engine, "plan"):  # a Qiskit engine: time bindings, price the run's bindings with them
            engine.fidelity_sets(x[:2], params.numpy()[None])  # transpiles: not timed
            tic = time.perf_counter()
            engine.fidelity_sets(x, params.numpy()[None])
            per_binding = (time.perf_counter() - tic) / len(x)
            return per_binding * self.dry_run(n_features, n_events, n_train=n_events if training else 0)[stage]["bindings"]
        # A PennyLane device: time one batch of the run's size through it (devices broadcast: the per-event cost
        # falls with the batch), and back through it where training takes gradients
        size = min(n_events, c.batch_size if training else min(c.score_batch_size, 1024))
        x = torch.as_tensor(rng.uniform(0, np.pi, (max(size, 2), n_features)))
        backward = training and c.optimizer != "spsa"
        params.requires_grad_(backward)
        with torch.set_grad_enabled(backward):
            engine.fidelity(x[:2], params)
            tic = time.perf_counter()
            out = engine.fidelity(x, params).mean()
            if backward:
                out.backward()
            per_event = (time.perf_counter() - tic) / len(x)
        if not training:
            return per_event * n_events
        per_step = {"adam": 1.0, "qng": 1.0 + c.n_layers, "spsa": 2.0}[c.optimizer]  # spsa: two forward passes
        return per_event * per_step * n_events * c.epochs

    def resources(self) -> dict:
        """Circuit size, plus what a Qiskit backend executed (transpiled depth, jobs, shots...): `execution` in all,
        `training_execution` up to the end of training."""
        executed = self.engine.resources() if hasattr(self.engine, "resources") else None
        return {**self.circuit.resources(), **({"execution": executed} if executed else {}),
                **({"training_execution": self.training_execution} if self.training_execution else {})}
