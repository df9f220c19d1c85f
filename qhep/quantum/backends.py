"""Backend registry: the `backend=` setting names the engine that runs every quantum circuit."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from qhep.quantum.ansatz import QAECircuit
from qhep.quantum.fast import FastEngine
from qhep.quantum.noise import check_noise_scale
from qhep.quantum.pennylane_engine import PennyLaneEngine


@dataclass
class FastBackend:
    """Exact batched simulation in torch (product-state encoding, shared variational unitary)."""

    name: str = "fast"
    precision: str = "double"

    def engine(self, circuit: QAECircuit) -> FastEngine:
        return FastEngine(circuit, dtype=torch.float64 if self.precision == "double" else torch.float32)


@dataclass
class PennyLaneBackend:
    """A PennyLane device (backend.device=NAME, any installed plugin); shots = null means exact."""

    name: str = "pennylane"
    device: str = "default.qubit"
    diff_method: str = "best"
    shots: int | None = None

    def engine(self, circuit: QAECircuit) -> PennyLaneEngine:
        return PennyLaneEngine(circuit, self.device, self.diff_method, self.shots)


@dataclass
class AerBackend:
    """Qiskit Aer through its SamplerV2; shots = null means exact (statevector, or density matrix with noise).
    noise = 'fake:<FakeDeviceName>' simulates that device's noise model on its coupling map and basis gates;
    noise_scale multiplies its error probabilities (and divides T1, T2): 0 = noiseless on the same gates."""

    name: str = "aer"
    shots: int | None = 1024
    noise: str | None = None
    noise_scale: float = 1.0
    method: str = "automatic"
    threads: int = 1  # Aer's max_parallel_threads; 0 = all cores
    readout: str = "trash"  # or swap_test
    optimization_level: int = 1
    max_bindings_per_job: int = 100_000
    # shots x bindings per job: Aer keeps a job's samples in memory (8M shots ~ +0.6 GB), and in-process jobs
    # cost nothing to split, so smaller than a device's limit
    max_executions_per_job: int = 1_000_000
    seed: int = 0
    journal: str | None = None  # directory of the job journal (resume without resubmitting)

    def __post_init__(self):  # a bad scale stops at configuration, before a run folder exists
        check_noise_scale(self.noise_scale, self.noise)

    def engine(self, circuit: QAECircuit):
        from qhep.quantum.qiskit_engine import aer_engine

        return aer_engine(circuit, self)


@dataclass
class _RuntimeSamplerSettings:
    """What every Qiskit Runtime SamplerV2 target takes: shots, readout, transpilation, job limits, journal."""

    shots: int = 1024
    readout: str = "trash"
    optimization_level: int = 2
    max_bindings_per_job: int = 100_000
    max_executions_per_job: int = 10_000_000
    seed: int = 0
    journal: str | None = None
    # Runtime execution mode: auto = a Session while training on the device, a Batch for scoring jobs;
    # job = single jobs (IBM's open plan has no sessions); batch or session for everything.
    execution: str = "auto"


@dataclass
class FakeDeviceBackend(_RuntimeSamplerSettings):
    """A fake IBM device (qiskit_ibm_runtime.fake_provider) run locally by Runtime's SamplerV2."""

    name: str = "fake"
    device: str = "FakeManilaV2"

    def engine(self, circuit: QAECircuit):
        from qhep.quantum.qiskit_engine import fake_engine

        return fake_engine(circuit, self)


@dataclass
class IBMBackend(_RuntimeSamplerSettings):
    """IBM Quantum through qiskit-ibm-runtime; the token comes from QISKIT_IBM_TOKEN or the saved account and is
    never part of the configuration. device = null picks the least busy device."""

    name: str = "ibm"
    device: str | None = None
    channel: str = "ibm_quantum_platform"
    instance: str | None = None

    def engine(self, circuit: QAECircuit, service=None):
        from qhep.quantum.qiskit_engine import ibm_engine

        return ibm_engine(circuit, self, service)


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


def make_backend(settings: dict):
    """The backend object for a resolved `backend` config section."""
    preset = BACKENDS.get(settings["name"])
    kind = type(preset) if preset is not None else PennyLaneBackend
    return kind(**settings)
