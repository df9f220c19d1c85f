"""Quantum fidelity-kernel anomaly detectors: a one-class SVM on the kernel, quantum k-means and k-medians.

As in Wozniak, Belis et al. (arXiv:2301.10780), usually on an autoencoder's latent space (method=chain
method.encoder=ae method.scorer=qsvm). Inputs are min-max scaled to [0, pi] on the training events (unseen values
clipped), then multiplied by `bandwidth`: a bandwidth below 1 narrows the angles, the known remedy for the
exponential concentration of fidelity kernels with the number of qubits (the record reports the training
kernel's off-diagonal mean and spread, so concentration shows). Each method fits on a seeded subsample of
`n_train` training events (the kernel costs grow as n_train^2 or n_train x k x iterations), the same subsample
the classical twins draw with their `max_train_events`. The kernel runs on the run's backend (`kernel` of
qhep.quantum.backends); `train_backend=fast` fits on the exact engine and scores on the run's backend.

- qsvm: scikit-learn's OneClassSVM(kernel="precomputed") on the training Gram; score = minus its decision
  function, evaluated on the support vectors only (sum_i alpha_i k(x, sv_i) - rho: fewer circuits on hardware).
- qkmeans / qkmedians: k centroids in the scaled input space; an event's distance to a centroid is the trace
  distance of their states, d = sqrt(1 - k(x, c)); events go to the nearest centroid, centroids move to the mean
  (k-means) or the coordinate-wise median (k-medians) of their events, until no assignment changes; score =
  sqrt(sum_k d_k^2), the paper's.
"""
from __future__ import annotations

import time
from abc import abstractmethod
from dataclasses import dataclass

import numpy as np
from sklearn.preprocessing import MinMaxScaler
from sklearn.svm import OneClassSVM

from qhep.errors import QhepError
from qhep.methods.base import AnomalyDetector, NamedConfiguration
from qhep.methods.sklearn_methods import subsample
from qhep.progress import progress_bar
from qhep.quantum.backends import BACKENDS, FastBackend, execution, submitting
from qhep.quantum.feature_maps import ENTANGLERS, KINDS, FeatureMap
from qhep.settings import Choice, Number, setting

TIMED_BINDINGS = (4, 16)  # a 4 x 16 kernel block: what a simulator's cost per entry is timed on
WOZNIAK2023 = "arXiv:2301.10780 (Wozniak, Belis et al., Quantum anomaly detection in the latent space of proton " \
    "collision events at the LHC)"
# the paper's map (its entangler left null: the dense map's own CNOT ladder) and training size; bandwidth 1: the
# inputs as qhep scales them, [0, pi], not narrowed (the paper has no bandwidth); on the task's features, where the
# paper read a convolutional autoencoder's latent space
PAPER_KERNEL = {"feature_map": "dense", "reps": 3, "bandwidth": 1.0, "n_train": 600}


@dataclass
class KernelSettings:
    # zz at bandwidth 0.1: measured the most even across the tasks (the paper's dense map, feature_map=dense reps=3,
    # swings by 0.3 in AUC with the bandwidth and task: see the README's bandwidth study)
    feature_map: str = setting("zz", Choice(KINDS))
    reps: int = setting(2, Number(int, ge=1, le=100))
    entangler: str | None = setting(None, Choice(ENTANGLERS, optional=True))  # null: the map's own default
    bandwidth: float = setting(0.1, Number(float, gt=0))
    n_train: int = setting(600, Number(int, ge=2))  # the paper's scale; the exact engine takes 10^4 in seconds
    train_backend: str | None = setting(None, Choice(tuple(BACKENDS), optional=True))


@dataclass
class QSVMConfig(KernelSettings):
    name: str = "qsvm"
    # the paper's 0.01 leaves some 6 support vectors of 600 events, and AUCs that jump with the seed
    nu: float = setting(0.1, Number(float, gt=0, le=1))


@dataclass
class QKMeansConfig(KernelSettings):
    name: str = "qkmeans"
    n_clusters: int = setting(2, Number(int, ge=1))
    max_iter: int = setting(50, Number(int, ge=1))


@dataclass
class QKMediansConfig(QKMeansConfig):
    name: str = "qkmedians"


class FidelityKernelMethod(AnomalyDetector):
    """Scaling, subsampling, the feature map and the kernel engine, shared by the kernel methods."""

    quantum = True
    runtime = ("progress", "backend", "engine")  # a restored model scores on the run's own backend
    detachable = True  # scoring jobs (and qsvm's training Gram) go out at once with detach=true

    def __init__(self, config, seed: int = 0, backend=None, progress: bool = True):
        self.config, self.seed, self.progress = config, seed, progress
        self.backend = backend or FastBackend()
        self.engine = None
        self.training_execution: dict | None = None

    def feature_map(self, n_features: int) -> FeatureMap:
        c = self.config
        return FeatureMap(n_features, c.feature_map, c.reps, c.entangler)

    def check_inputs(self, n_features: int) -> None:
        self.feature_map(n_features)  # refuses impossible maps in one line

    def _angles(self, X: np.ndarray) -> np.ndarray:
        return self.scaler_.transform(X) * self.config.bandwidth

    def _training_events(self, X: np.ndarray) -> np.ndarray:
        """Scaler fitted on every training event; the seeded subsample the kernel is computed on, as angles."""
        self.scaler_ = MinMaxScaler(feature_range=(0.0, np.pi), clip=True).fit(X)
        keep = subsample(len(X), self.config.n_train, self.seed)
        self.fmap_ = self.feature_map(X.shape[1])
        return self._angles(X if keep is None else X[keep])

    def _trainer(self):
        trainer = BACKENDS[self.config.train_backend] if self.config.train_backend else self.backend
        return trainer.kernel(self.fmap_)

    def _finish_training(self) -> None:
        if hasattr(self.engine, "executed"):
            self.training_execution = self.engine.resources()
        if self.config.train_backend:
            self.use_backend(self.backend)

    def restored(self) -> None:
        self.use_backend(self.backend)

    def detach(self, train_x: np.ndarray, test_x: np.ndarray, train_y=None) -> list[str]:
        """Fitted here (method.train_backend): submit the scoring kernel's jobs without waiting; their rows are
        those anomaly_score runs, so it collects them by id."""
        if not hasattr(self, "fmap_"):
            self.fit(train_x, train_y)
        submitting(self.engine, self.backend)
        with execution(self.engine, "score"):
            return self.engine.submit(self.engine.cross_items(self._angles(test_x), self._scoring_reference()))

    @abstractmethod
    def _scoring_reference(self) -> np.ndarray:
        """The inputs whose states every test event is compared with: support vectors, or centroids."""

    def use_backend(self, backend) -> None:
        """Score on another backend from now on: the fitted model moves without refitting (sweeps reuse it)."""
        self.backend = backend
        self.engine = backend.kernel(self.fmap_)

    def resources(self) -> dict:
        executed = self.engine.resources() if hasattr(self.engine, "executed") else None
        return {**self.fmap_.resources(), "bandwidth": self.config.bandwidth, "train_events": self.train_events_,
                "kernel": self.kernel_figures_, **self._resources(),
                **({"execution": executed} if executed else {}),
                **({"training_execution": self.training_execution} if self.training_execution else {})}

    def _resources(self) -> dict:
        return {}

    # --- what the work costs, before it starts --------------------------------------------------------------
    work_bounds = ""  # what the counts of `work` assume

    @abstractmethod
    def work(self, n_train: int, n_test: int) -> dict[str, int]:
        """Kernel entries (circuits) of training on n_train events and of scoring n_test: upper bounds."""

    def dry_run(self, n_features: int, n_test: int, n_train: int = 0) -> dict:
        """What training (where it runs on this backend) and scoring would submit, without submitting."""
        engine = self.backend.kernel(self.feature_map(n_features))
        work = self.work(min(n_train, self.config.n_train), n_test)
        report = {**engine.circuit_figures(), "scoring": engine.plan(work["scoring"])}
        if n_train and not self.config.train_backend:
            report["training"] = engine.plan(work["training"])
        return {**report, "bounds": self.work_bounds}

    def estimate_seconds(self, n_features: int, n_train: int, n_test: int) -> dict | None:
        """Wall time of the kernel work on a simulator (timed on a sample block) or QPU (device durations)."""
        trainer = BACKENDS[self.config.train_backend] if self.config.train_backend else self.backend
        work = self.work(min(n_train, self.config.n_train), n_test)
        stages = {}
        if n_train and not isinstance(trainer, FastBackend):
            stages["training"] = self._seconds(trainer, n_features, work["training"], "training")
        if not isinstance(self.backend, FastBackend):
            stages["scoring"] = self._seconds(self.backend, n_features, work["scoring"], "scoring")
        if not stages:
            return None
        basis = "timed sample" if type(self.backend).timed_locally else "device instruction durations, no queue"
        return {"seconds": sum(stages.values()), "stages": stages, "basis": basis}

    def _seconds(self, backend, n_features: int, entries: int, stage: str) -> float:
        fmap = self.feature_map(n_features)
        engine = backend.kernel(fmap)
        if not type(backend).timed_locally:  # hardware: what the plan says the QPU spends
            seconds = engine.plan(entries).get("estimated_qpu_seconds")
            return float("inf") if seconds is None else seconds
        rng = np.random.default_rng(self.seed)
        x, y = (rng.uniform(0, np.pi, (n, n_features)) for n in TIMED_BINDINGS)
        engine.cross(x[:1], y[:2])  # transpiles, opens the device: not timed
        tic = time.perf_counter()
        engine.cross(x, y)
        return (time.perf_counter() - tic) / (len(x) * len(y)) * entries


class QSVM(FidelityKernelMethod):
    """One-class SVM on a quantum fidelity kernel (scikit-learn OneClassSVM, precomputed kernel)."""

    name = "qsvm"
    # the kernel's width (angle scale), the support's share nu and the feature map: 36 points
    search_space = {"bandwidth": (0.05, 0.1, 0.5, 1.0), "nu": (0.01, 0.1, 0.5), "feature_map": ("zz", "dense", "angle")}
    classical_twin = "ocsvm"
    named_configurations = {
        "wozniak2023": NamedConfiguration(
            settings={**PAPER_KERNEL, "nu": 0.01}, source=WOZNIAK2023,
            description=("the paper's one-class QSVM: dense map (two features per qubit, U3, CNOT ladder, U3), 3 "
                         "repetitions, 600 training events, nu 0.01 (which leaves some 6 support vectors: AUCs jump "
                         "with the seed), no bandwidth; exact kernel, on the task's features (the paper: an "
                         "autoencoder's latent space, method=chain)")),
    }

    @classmethod
    def twin_settings(cls, config) -> dict:
        # OCSVM's max_train_events draws the same seeded subsample as n_train; nu bounds the same support fraction
        return {"nu": config.nu, "max_train_events": config.n_train}

    def fit(self, X: np.ndarray, y=None) -> QSVM:
        x = self._training_events(X)
        self.train_events_ = len(x)
        self.engine = self._trainer()
        with execution(self.engine, "train"), progress_bar(1, f"qsvm training kernel ({self.engine.name}, {len(x)} events)",
                          enabled=self.progress) as bar:
            gram = self.engine.gram(x)
            bar.update(1)
        self.kernel_figures_ = concentration(gram)
        model = OneClassSVM(kernel="precomputed", nu=self.config.nu).fit(gram)
        self.support_ = x[model.support_]
        self.dual_coef_ = model.dual_coef_[0]
        self.intercept_ = float(model.intercept_[0])
        self._finish_training()
        return self

    def anomaly_score(self, X: np.ndarray) -> np.ndarray:
        with execution(self.engine, "score"):
            k = self.engine.cross(self._angles(X), self.support_)
        return -(k @ self.dual_coef_ + self.intercept_)  # OneClassSVM's decision function, negated

    def _scoring_reference(self) -> np.ndarray:
        return self.support_

    def detach(self, train_x: np.ndarray, test_x: np.ndarray, train_y=None) -> list[str]:
        """Training on the run's backend: the Gram's jobs go out (scoring needs its support vectors, so the
        resumed run submits those); else as every kernel method."""
        if self.fits_locally(self.config):
            return super().detach(train_x, test_x, train_y)
        x = self._training_events(train_x)
        engine = self._trainer()
        submitting(engine, self.backend)
        with execution(engine, "train"):
            return engine.submit(engine.gram_items(x))

    work_bounds = ("training: the N(N-1)/2 Gram entries above the diagonal; scoring: an upper bound counting every "
                   "training event as a support vector (only the support vectors, at least nu x N, are run)")

    def work(self, n_train: int, n_test: int) -> dict[str, int]:
        return {"training": n_train * (n_train - 1) // 2, "scoring": n_test * n_train}

    def _resources(self) -> dict:
        return {"support_vectors": len(self.support_), "nu": self.config.nu}


class QuantumKMeans(FidelityKernelMethod):
    """k-means with fidelity distances (trace distance of the encoded states); centroids updated by the mean."""

    name = "qkmeans"
    search_space = {"bandwidth": (0.05, 0.1, 0.5, 1.0), "n_clusters": (1, 2, 4, 8)}  # k-medians inherits it
    centre = staticmethod(np.mean)
    classical_twin = "kmeans"  # also k-medians': the classical k-means with the same k, events and score
    named_configurations = {  # k-medians inherits it: the paper ran both
        "wozniak2023": NamedConfiguration(
            settings={**PAPER_KERNEL, "n_clusters": 2}, source=WOZNIAK2023,
            description=("the paper's quantum clustering: dense map, 3 repetitions, 600 training events, k = 2, "
                         "score sqrt(sum_k d_k^2), no bandwidth; exact distances (the paper: 10k shots, SWAP tests), "
                         "on the task's features (the paper: an autoencoder's latent space, method=chain)")),
    }

    @classmethod
    def twin_settings(cls, config) -> dict:
        return {"n_clusters": config.n_clusters, "score": "sum", "max_train_events": config.n_train}

    def fit(self, X: np.ndarray, y=None) -> QuantumKMeans:
        c = self.config
        x = self._training_events(X)
        if len(x) < c.n_clusters:
            raise QhepError(f"method.n_clusters={c.n_clusters} exceeds the {len(x)} training events: lower "
                            "method.n_clusters")
        self.train_events_ = len(x)
        self.engine = self._trainer()
        rng = np.random.default_rng(self.seed)
        centroids = x[rng.choice(len(x), c.n_clusters, replace=False)]
        assignment = None
        self.history = []
        with progress_bar(c.max_iter, f"{self.name} ({self.engine.name}, {len(x)} events)",
                          enabled=self.progress) as bar:
            for _ in range(c.max_iter):
                d2 = 1.0 - self.engine.cross(x, centroids)
                new = d2.argmin(axis=1)
                self.history.append(float(np.take_along_axis(d2, new[:, None], axis=1).mean()))
                bar.update(1)
                if assignment is not None and (new == assignment).all():
                    break
                assignment = new
                centroids = np.stack([self.centre(x[assignment == j], axis=0) if (assignment == j).any()
                                      else centroids[j] for j in range(c.n_clusters)])  # an empty cluster stays
        self.centroids_ = centroids
        self.iterations_ = len(self.history)
        self.kernel_figures_ = concentration(1.0 - d2, square=False)
        self._finish_training()
        return self

    @classmethod
    def detach_problems(cls, config, backend_class) -> list[str]:
        if not cls.fits_locally(config):  # each iteration's centroids need the last one's distances
            return [f"detach=true: {config.name} clusters step by step on the backend (each iteration needs the last "
                    "one's results); set method.train_backend=fast to cluster here and detach the scoring jobs"]
        return []

    def anomaly_score(self, X: np.ndarray) -> np.ndarray:
        with execution(self.engine, "score"):
            k = self.engine.cross(self._angles(X), self.centroids_)
        return np.sqrt(np.clip(1.0 - k, 0.0, None).sum(axis=1))

    def _scoring_reference(self) -> np.ndarray:
        return self.centroids_

    work_bounds = ("training: an upper bound of max_iter iterations of N x k distances (it stops once no assignment "
                   "changes); scoring: N_test x k")

    def work(self, n_train: int, n_test: int) -> dict[str, int]:
        k = self.config.n_clusters
        return {"training": self.config.max_iter * n_train * k, "scoring": n_test * k}

    def _resources(self) -> dict:
        return {"clusters": self.config.n_clusters, "iterations": self.iterations_,
                "trainable_parameters": int(self.centroids_.size)}


class QuantumKMedians(QuantumKMeans):
    """k-medians with fidelity distances: centroids move to the coordinate-wise median of their events."""

    name = "qkmedians"
    centre = staticmethod(np.median)


def concentration(kernel: np.ndarray, square: bool = True) -> dict:
    """Mean and spread of a kernel's entries off the diagonal (of a square Gram) or of all (event x centroid):
    values piling up at one number mean the kernel has concentrated and no longer separates events."""
    values = kernel[~np.eye(len(kernel), dtype=bool)] if square else kernel.ravel()
    return {"mean": float(values.mean()), "std": float(values.std()), "entries": int(values.size)}


# name -> (estimator class, config dataclass), for qhep.methods.METHODS
METHODS = {
    "qsvm": (QSVM, QSVMConfig),
    "qkmeans": (QuantumKMeans, QKMeansConfig),
    "qkmedians": (QuantumKMedians, QKMediansConfig),
}
