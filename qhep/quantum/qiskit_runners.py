"""Qiskit targets as runners of SamplerV2 PUBs: Aer's sampler, its exact probabilities (with the device's readout
errors applied), IBM Runtime's sampler (real devices, or fake ones in local testing mode), and resolving them."""
from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np

from qhep.errors import NoAccount, QhepError
from qhep.quantum.qiskit_circuit import READOUT_REGISTER

# Jobs of in-process (local) samplers by id: what "retrieve a job by id" means when there is no service.
_LOCAL_JOBS: dict[str, object] = {}
# Provider statuses of a job that is still to run (Runtime's strings; qiskit's JobStatus names likewise)
PENDING_STATUSES = ("INITIALIZING", "QUEUED", "VALIDATING", "RUNNING")


def job_status(job) -> str | None:
    """A job's provider status as an upper-case name ("DONE", "QUEUED", ...); None without a job, "UNKNOWN" when
    the provider does not say. Runtime's jobs answer a string, qiskit's and Aer's a JobStatus."""
    if job is None:
        return None
    try:
        status = job.status()
    except Exception:  # noqa: BLE001  a provider that cannot say (network, expired job)
        return "UNKNOWN"
    return str(getattr(status, "name", status)).upper()


def frequencies(bit_array) -> np.ndarray:
    """Outcome frequencies (bindings, 2**m) of a sampled m-bit register; outcome index = sum_i bit_i 2**i."""
    packed = bit_array.array.reshape(-1, bit_array.num_shots, bit_array.array.shape[-1])
    outcome = np.zeros(packed.shape[:2], dtype=np.int64)
    for byte in range(packed.shape[-1]):  # bytes are big-endian: the last one holds bits 0-7
        outcome = (outcome << 8) | packed[..., byte]
    size = 2**bit_array.num_bits
    outcome += np.arange(len(packed))[:, None] * size  # one bincount for every binding at once
    return np.bincount(outcome.reshape(-1), minlength=len(packed) * size).reshape(len(packed), size) / \
        bit_array.num_shots


class SamplerRunner:
    """A SamplerV2 (Aer's, or IBM Runtime's) sampling the readout register of each PUB."""

    def __init__(self, name: str, backend, make_sampler, shots: int, retrieve=None, target=None):
        self.name, self.backend, self.shots = name, backend, int(shots)
        self.target = target if target is not None else backend.target
        self._make_sampler = make_sampler  # (seed, mode) -> sampler
        self._retrieve = retrieve  # job id -> job (a service's), or None: the in-process table
        self.local = retrieve is None  # jobs run in this process (Aer, or Runtime's local testing mode)
        self.max_shots = config_value(backend, "max_shots")
        self.mode = None  # an open Runtime Session or Batch that jobs go to

    def submit(self, pubs: list, seed: int):
        job = self._make_sampler(seed, self.mode).run(pubs, shots=self.shots)
        if self._retrieve is None:
            _LOCAL_JOBS[job.job_id()] = job
        return job

    def retrieve(self, job_id: str):
        try:
            return (self._retrieve or _LOCAL_JOBS.get)(job_id)
        except Exception:  # noqa: BLE001  unknown or expired id: the caller resubmits
            return None

    def status(self, job_id: str) -> str | None:
        """The provider's status of a submitted job by id; None when it cannot be retrieved (see job_status)."""
        return job_status(self.retrieve(job_id))

    def collect(self, job) -> list[np.ndarray]:
        """Per PUB, the outcome frequencies of its readout register for each binding."""
        return [frequencies(getattr(pub.data, READOUT_REGISTER)) for pub in job.result()]


class RuntimeSamplerRunner(SamplerRunner):
    """IBM Runtime's SamplerV2, which can also run its jobs inside a Batch or a Session."""

    @contextmanager
    def open_mode(self, kind: str):
        from qiskit_ibm_runtime import Batch, Session

        with (Session if kind == "session" else Batch)(backend=self.backend) as mode:
            self.mode = mode
            try:
                yield mode
            finally:
                self.mode = None


class ExactAerRunner:
    """AerSimulator probabilities (statevector, or density matrix with noise): the shots -> infinity limit of the
    sampler. Aer applies a noise model's readout errors to sampled measurements only, so they are applied here to
    the saved probabilities: the exact line of a noisy study is then the limit its sampled points approach."""

    shots = None
    max_shots = None
    local = True

    def __init__(self, name: str, simulator, target, device=None, noise_model=None):
        self.name, self.target, self.simulator = name, target, simulator
        self.backend = device or simulator  # the device whose noise is simulated, if any: what figures name
        self.readout = readout_confusion(noise_model)

    def submit(self, pubs: list, seed: int):
        binds = [{p: values[:, i].tolist() for i, p in enumerate(isa.parameters)} for isa, values in pubs]
        job = self.simulator.run([isa for isa, _ in pubs], parameter_binds=binds, seed_simulator=seed)
        job.pub_shapes = [(len(values), _saved_qubits(isa)) for isa, values in pubs]
        _LOCAL_JOBS[job.job_id()] = job
        return job

    def retrieve(self, job_id: str):
        return _LOCAL_JOBS.get(job_id)

    def status(self, job_id: str) -> str | None:
        return job_status(self.retrieve(job_id))

    def collect(self, job) -> list[np.ndarray]:
        result, out, i = job.result(), [], 0
        for bindings, qubits in job.pub_shapes:
            block = np.zeros((bindings, 2 ** len(qubits)))
            for row in block:  # Aer leaves off trailing zero probabilities
                saved = result.data(i)["probabilities"]
                row[: len(saved)] = saved
                i += 1
            out.append(self._misread(block, qubits))
        return out

    def _misread(self, probabilities: np.ndarray, qubits: list[int]) -> np.ndarray:
        """Outcome probabilities after each qubit's readout confusion P(read j | state i)."""
        m = len(qubits)
        p = probabilities.reshape((len(probabilities),) + (2,) * m)
        for bit, qubit in enumerate(qubits):
            confusion = self.readout.get(qubit, self.readout.get(None))
            if confusion is not None:
                axis = m - bit  # outcome index = sum_i bit_i 2**i: axis 1 holds the most significant bit
                p = np.moveaxis(np.tensordot(p, confusion, axes=([axis], [0])), -1, axis)
        return p.reshape(len(probabilities), -1)


def _saved_qubits(isa) -> list[int]:
    """The physical qubits whose probabilities the circuit saves, bit 0 first."""
    inst = next(inst for inst in isa.data if inst.operation.name == "save_probabilities")
    return [isa.find_bit(q).index for q in inst.qubits]


def readout_confusion(noise_model) -> dict:
    """Physical qubit (None: every qubit) -> its readout confusion matrix, from an Aer noise model."""
    confusion = {}
    for error in (noise_model.to_dict()["errors"] if noise_model is not None else []):
        if error["type"] != "roerror":
            continue
        matrix = np.asarray(error["probabilities"], dtype=float)
        if matrix.shape != (2, 2):
            raise QhepError("correlated multi-qubit readout errors are not supported with backend.shots=null")
        for qubits in error.get("gate_qubits") or [(None,)]:
            confusion[qubits[0]] = matrix
    return confusion


def config_value(backend, key):
    try:
        return getattr(backend.configuration(), key, None)
    except Exception:  # noqa: BLE001  a backend without a configuration
        return None


def fake_device(name: str):
    """A fake IBM device (calibrated coupling map, basis gates, noise) by class name, e.g. FakeManilaV2."""
    from qiskit_ibm_runtime import fake_provider

    kind = getattr(fake_provider, name, None)
    if not name.startswith("Fake") or kind is None:
        known = sorted(n for n in dir(fake_provider) if n.startswith("Fake") and "Provider" not in n)
        raise QhepError(f"unknown fake device {name!r}; choose one of: {', '.join(known)}")
    return kind()


def matching_fake_device(device: str | None) -> str | None:
    """The fake device (qiskit_ibm_runtime.fake_provider) named after an IBM device: ibm_brisbane -> FakeBrisbane."""
    from qiskit_ibm_runtime import fake_provider

    if not device:
        return None
    name = "Fake" + device.removeprefix("ibm_").capitalize()
    return name if hasattr(fake_provider, name) else None


def runtime_runner(name: str, backend, shots: int, retrieve=None) -> RuntimeSamplerRunner:
    """IBM Runtime's SamplerV2 on `backend` (a real device, or a fake one: local testing mode), in the open Batch
    or Session if there is one."""
    from qiskit_ibm_runtime import SamplerV2
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    local = isinstance(backend, FakeBackendV2)

    def make_sampler(seed, mode):
        sampler = SamplerV2(mode=mode or backend)
        sampler.options.default_shots = shots
        if local:
            sampler.options.simulator.seed_simulator = seed
        return sampler

    return RuntimeSamplerRunner(name, backend, make_sampler, shots, retrieve=None if local else retrieve)


def scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def runtime_service(channel: str, instance: str | None):
    """QiskitRuntimeService from QISKIT_IBM_TOKEN or the saved account; errors never carry the token."""
    from qiskit_ibm_runtime import QiskitRuntimeService

    token = os.environ.get("QISKIT_IBM_TOKEN") or None
    try:
        return QiskitRuntimeService(channel=channel, token=token, instance=instance)
    except Exception as exc:  # noqa: BLE001  any failure becomes one line without the token
        reason = scrub((str(exc).strip().splitlines() or [""])[0], token)
        source = "the token in QISKIT_IBM_TOKEN" if token else "the saved account (none found?)"
        raise NoAccount(f"cannot open IBM Quantum ({channel}) with {source}: {type(exc).__name__}: {reason}; "
                        "set QISKIT_IBM_TOKEN or save an account with QiskitRuntimeService.save_account") from None


