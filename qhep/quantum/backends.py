"""Backend registry: the `backend=` setting names the engine that runs every quantum circuit: each backend builds
the engine of a quantum autoencoder circuit (`engine`) and of a fidelity kernel (`kernel`)."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, fields
from typing import ClassVar

import torch

from qhep.errors import QhepError
from qhep.quantum.ansatz import QAECircuit
from qhep.quantum.fast import FastEngine
from qhep.quantum.feature_maps import FeatureMap
from qhep.quantum.kernel_fast import FastKernel
from qhep.quantum.kernel_pennylane import PennyLaneKernel
from qhep.quantum.noise import check_noise_scale
from qhep.quantum.pennylane_engine import PennyLaneEngine
from qhep.quantum.qiskit_circuit import READOUTS
from qhep.settings import SEED, Choice, Number, Text, setting

EXECUTION_MODES = ("auto", "job", "batch", "session")
SHOTS = Number(int, ge=1, optional=True)  # null: exact
JOB_LIMIT = Number(int, ge=1)
OPTIMIZATION_LEVEL = Number(int, ge=0, le=3)
JOURNAL = Text(optional=True)
# Minutes of simulator or QPU work a run may start without being told to: above it, it is refused with the estimate
BUDGET = Number(float, gt=0)


@dataclass
class FastBackend:
    """Exact batched simulation in torch (product-state encoding, shared variational unitary)."""

    # Capabilities, declared as data and checked before anything runs (as PennyLane devices declare theirs):
    submits_jobs: ClassVar[bool] = False  # shot-based or remote jobs: what a dry run prices
    timed_locally: ClassVar[bool] = False  # its work is estimated by timing a sample of it here (simulators)
    metric_approx: ClassVar[tuple] = ("block-diag", "diag", "full")  # QNG metric tensors it can compute

    name: str = "fast"
    precision: str = setting("double", Choice(("double", "single")))

    def engine(self, circuit: QAECircuit) -> FastEngine:
        return FastEngine(circuit, dtype=self.dtype)

    def kernel(self, fmap: FeatureMap) -> FastKernel:
        return FastKernel(fmap, dtype=self.dtype)

    @property
    def dtype(self) -> torch.dtype:
        return torch.float64 if self.precision == "double" else torch.float32


@dataclass
class PennyLaneBackend:
    """A PennyLane device (backend.device=NAME, any installed plugin); shots = null means exact."""

    submits_jobs: ClassVar[bool] = False
    timed_locally: ClassVar[bool] = True
    metric_approx: ClassVar[tuple] = ("block-diag", "diag", "full")

    name: str = "pennylane"
    device: str = setting("default.qubit", Text())
    diff_method: str = setting("best", Text())
    shots: int | None = setting(None, SHOTS)
    max_minutes: float = setting(30.0, BUDGET)

    def engine(self, circuit: QAECircuit) -> PennyLaneEngine:
        return PennyLaneEngine(circuit, self.device, self.diff_method, self.shots)

    def kernel(self, fmap: FeatureMap) -> PennyLaneKernel:
        return PennyLaneKernel(fmap, self.device, self.shots)


@dataclass
class AerBackend:
    """Qiskit Aer through its SamplerV2; shots = null means exact (statevector, or density matrix with noise).
    noise = 'fake:<FakeDeviceName>' simulates that device's noise model on its coupling map and basis gates;
    noise_scale multiplies its error probabilities (and divides T1, T2): 0 = noiseless on the same gates."""

    submits_jobs: ClassVar[bool] = True
    timed_locally: ClassVar[bool] = True
    metric_approx: ClassVar[tuple] = ("block-diag", "diag")  # measured; the full one needs Hadamard tests

    name: str = "aer"
    max_minutes: float = setting(30.0, BUDGET)
    shots: int | None = setting(1024, SHOTS)
    noise: str | None = setting(None, Text(optional=True))
    noise_scale: float = setting(1.0, Number(float, ge=0))
    method: str = setting("automatic", Text())  # Aer's simulation method
    threads: int = setting(1, Number(int, ge=0))  # Aer's max_parallel_threads; 0 = all cores
    readout: str = setting("trash", Choice(READOUTS))
    optimization_level: int = setting(1, OPTIMIZATION_LEVEL)
    max_bindings_per_job: int = setting(100_000, JOB_LIMIT)
    # shots x bindings per job: Aer keeps a job's samples in memory (8M shots ~ +0.6 GB), and in-process jobs
    # cost nothing to split, so smaller than a device's limit
    max_executions_per_job: int = setting(1_000_000, JOB_LIMIT)
    seed: int = setting(0, SEED)
    journal: str | None = setting(None, JOURNAL)  # directory of the job journal (resume without resubmitting)

    def __post_init__(self):  # a bad scale stops at configuration, before a run folder exists
        check_noise_scale(self.noise_scale, self.noise)

    def engine(self, circuit: QAECircuit):
        from qhep.quantum.qiskit_engine import aer_engine

        return aer_engine(circuit, self)

    def kernel(self, fmap: FeatureMap):
        from qhep.quantum.kernel_qiskit import qiskit_kernel

        return qiskit_kernel(fmap, self)


@dataclass
class _RuntimeSamplerSettings:
    """What every Qiskit Runtime SamplerV2 target takes: shots, readout, transpilation, job limits, journal."""

    submits_jobs: ClassVar[bool] = True
    timed_locally: ClassVar[bool] = False  # hardware: its own instruction durations, nothing run to estimate
    metric_approx: ClassVar[tuple] = ("block-diag", "diag")

    shots: int = setting(1024, Number(int, ge=1))
    max_minutes: float = setting(30.0, BUDGET)
    readout: str = setting("trash", Choice(READOUTS))
    optimization_level: int = setting(2, OPTIMIZATION_LEVEL)
    max_bindings_per_job: int = setting(100_000, JOB_LIMIT)
    max_executions_per_job: int = setting(10_000_000, JOB_LIMIT)
    seed: int = setting(0, SEED)
    journal: str | None = setting(None, JOURNAL)
    # Runtime execution mode: auto = a Session while training on the device, a Batch for scoring jobs;
    # job = single jobs (IBM's open plan has no sessions); batch or session for everything.
    execution: str = setting("auto", Choice(EXECUTION_MODES))


@dataclass
class FakeDeviceBackend(_RuntimeSamplerSettings):
    """A fake IBM device (qiskit_ibm_runtime.fake_provider) run locally by Runtime's SamplerV2."""

    timed_locally: ClassVar[bool] = True  # Runtime's local simulator

    name: str = "fake"
    device: str = setting("FakeManilaV2", Text())

    def engine(self, circuit: QAECircuit):
        from qhep.quantum.qiskit_engine import fake_engine

        return fake_engine(circuit, self)

    def kernel(self, fmap: FeatureMap):
        from qhep.quantum.kernel_qiskit import qiskit_kernel

        return qiskit_kernel(fmap, self)


@dataclass
class IBMBackend(_RuntimeSamplerSettings):
    """IBM Quantum through qiskit-ibm-runtime; the token comes from QISKIT_IBM_TOKEN or the saved account and is
    never part of the configuration. device = null picks the least busy device."""

    name: str = "ibm"
    device: str | None = setting(None, Text(optional=True))
    channel: str = setting("ibm_quantum_platform", Choice(("ibm_quantum_platform", "ibm_cloud")))
    instance: str | None = setting(None, Text(optional=True))

    def engine(self, circuit: QAECircuit, service=None):
        from qhep.quantum.qiskit_engine import ibm_engine

        return ibm_engine(circuit, self, service)

    def kernel(self, fmap: FeatureMap, service=None):
        from qhep.quantum.kernel_qiskit import qiskit_kernel

        return qiskit_kernel(fmap, self, service)


BACKENDS = {
    "fast": FastBackend(),
    "pennylane": PennyLaneBackend(),
    # Presets with each simulator's fastest exact differentiation
    "default.qubit": PennyLaneBackend("default.qubit", "default.qubit", diff_method="backprop"),
    "lightning.qubit": PennyLaneBackend("lightning.qubit", "lightning.qubit", diff_method="adjoint"),
    "aer": AerBackend(),
    "fake": FakeDeviceBackend(),
    "ibm": IBMBackend(),
}


def planning_backend(settings: IBMBackend, fake: str) -> FakeDeviceBackend:
    """The fake device `fake` with the IBM backend's sampler settings: a plan from its target (coupling map, basis
    gates, instruction durations) when no account is at hand."""
    shared = {f.name: getattr(settings, f.name) for f in fields(_RuntimeSamplerSettings)}
    return FakeDeviceBackend(device=fake, **shared)


def runs_here(backend_class) -> bool:
    """Whether a backend runs in this process (an exact engine, a local simulator), not on a remote device."""
    return not backend_class.submits_jobs or backend_class.timed_locally


def execution(engine, purpose: str):
    """The engine's execution context for training or scoring (a Runtime Session or Batch); none for simulators."""
    return engine.execution(purpose) if hasattr(engine, "execution") else nullcontext()


def submitting(engine, backend) -> None:
    """Refuse, in one line, to detach on an engine that submits no jobs (exact engines, PennyLane devices)."""
    if not hasattr(engine, "submit"):
        raise QhepError(f"detach=true: backend {backend.name} submits no jobs; choose backend=aer, fake or ibm")


def make_backend(settings: dict):
    """The backend object for a resolved `backend` config section."""
    preset = BACKENDS.get(settings["name"])
    kind = type(preset) if preset is not None else PennyLaneBackend
    return kind(**settings)
