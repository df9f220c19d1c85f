"""Qiskit backends for the QAE: Aer, fake IBM devices (local testing mode) and IBM Quantum through Runtime.

N events are rows of one parameter array bound to ONE parametrised circuit, transpiled ONCE to the target's ISA,
and run as SamplerV2 PUBs of many bindings, packed into as few jobs as the limits allow (several circuits' PUBs
share a job). Gradients use the parameter-shift rule on the same backend: every trainable gate is a Pauli rotation
exp(-i t P / 2), so dF/dt_j = [F(t + pi/2 e_j) - F(t - pi/2 e_j)] / 2, and the 2P shifted weight sets go into the
same PUB as extra bindings; the QNG metric is measured by one circuit per layer (qhep.quantum.qiskit_metric).
On IBM Runtime, training runs in a Session and scoring in a Batch. Submitted job ids go to an optional journal
(qhep.quantum.journal) so an interrupted run resumes without resubmitting.
"""
from __future__ import annotations

import hashlib
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from qiskit.transpiler import generate_preset_pass_manager

from qhep.errors import QhepError
from qhep.quantum.ansatz import QAECircuit
from qhep.quantum.journal import JobJournal, result_fits, with_retries
from qhep.quantum.qiskit_circuit import (
    READOUT_REGISTER,
    add_readout,
    build_qiskit_circuit,
)
from qhep.quantum.qiskit_metric import covariance_blocks, metric_layers
from qhep.text import format_duration

# Jobs of in-process (local) samplers by id: what "retrieve a job by id" means when there is no service.
_LOCAL_JOBS: dict[str, object] = {}
NOT_MEASURED = ("measure", "barrier", "save_probabilities")


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
        self.max_shots = _config_value(backend, "max_shots")
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


@dataclass
class Compiled:
    """One circuit transpiled to the target's ISA, with the readout it needs."""

    tag: str
    isa: object
    columns: np.ndarray  # which columns of a full row (x..., theta...) feed the ISA's parameters, in its order
    physical_qubits: list[int]


def p_zero(frequencies: np.ndarray) -> np.ndarray:
    """Probability that every readout bit is 0, per binding."""
    return frequencies[:, 0]


p_zero.bounds = (0.0, 1.0)  # what a journaled result may hold (qhep.quantum.journal.result_fits)


class QiskitEngine:
    def __init__(self, circuit: QAECircuit, runner, readout: str = "trash", optimization_level: int = 1,
                 max_bindings_per_job: int = 100_000, max_executions_per_job: int = 10_000_000, seed: int = 0,
                 journal: str | None = None, execution: str = "auto", noise: str = "", retries: int = 4,
                 retry_delay: float = 2.0):
        self.circuit, self.runner, self.name = circuit, runner, runner.name
        self.optimization_level, self.seed, self.execution_mode = optimization_level, seed, execution
        self.noise = noise  # a simulator's noise model, by name: part of what makes a journaled result reusable
        self.max_bindings_per_job, self.max_executions_per_job = max_bindings_per_job, max_executions_per_job
        if runner.shots is not None and runner.max_shots and runner.shots > runner.max_shots:
            raise QhepError(f"backend {runner.name}: {runner.shots} shots exceed the device limit {runner.max_shots}")
        self.program = build_qiskit_circuit(circuit, readout, measure=False)
        self.journal = JobJournal(journal) if journal else None
        self.retries, self.retry_delay, self.sleep = retries, retry_delay, time.sleep
        self.on_submit: list = []  # callables(job_id), run after each submission is journaled
        self.submissions = 0
        self._compiled: dict[str, Compiled] = {}
        self._metric_layers: list | None = None
        self._stats = {"bindings": 0, "pubs": 0, "jobs": 0, "job_ids": [], "seconds": 0.0,
                       "results_from_journal": 0, "jobs_collected_by_id": 0, "jobs_by_mode": {}, "mode_ids": []}

    # --- circuits, each transpiled once ---------------------------------------------------------------------
    def compile(self, tag: str, circuit, readout_qubits) -> Compiled:
        if tag not in self._compiled:
            width, available = circuit.num_qubits, getattr(self.runner.target, "num_qubits", None)
            if available and width > available:
                raise QhepError(f"backend {self.name}: the {tag} circuit needs {width} qubits, the device has "
                                f"{available}")
            circuit = circuit.copy()
            add_readout(circuit, readout_qubits)
            manager = generate_preset_pass_manager(optimization_level=self.optimization_level,
                                                   target=self.runner.target, seed_transpiler=self.seed)
            isa = manager.run(circuit)
            physical = list(isa.layout.final_index_layout()) if isa.layout else list(range(width))
            if self.runner.shots is None:
                # Exact: the same transpiled circuit (layout, routing, gates) as with shots, its measurements
                # replaced by saving the probabilities of the very qubits they read, in readout-bit order.
                measured = {isa.find_bit(inst.clbits[0]).index: isa.find_bit(inst.qubits[0]).index
                            for inst in isa.data if inst.operation.name == "measure"}
                isa.remove_final_measurements()
                isa.save_probabilities([measured[bit] for bit in range(len(readout_qubits))])
            column = {name: i for i, name in enumerate(self.program.parameter_names())}
            self._compiled[tag] = Compiled(tag, isa, np.array([column[p.name] for p in isa.parameters], dtype=int),
                                           physical)
        return self._compiled[tag]

    @property
    def main(self) -> Compiled:
        """The QAE with its readout (trash register or SWAP-test ancilla)."""
        return self.compile("fidelity", self.program.circuit, self.program.readout_qubits)

    @property
    def isa(self):
        return self.main.isa

    def bindings_per_job(self) -> int:
        shots = self.runner.shots or 1
        return max(1, min(self.max_bindings_per_job, self.max_executions_per_job // shots))

    # --- execution --------------------------------------------------------------------------------------------
    @contextmanager
    def execution(self, purpose: str):
        """Where the jobs of `purpose` ("train" or "score") go: with execution=auto, a Session for iterative
        training and a Batch for independent scoring jobs, on backends that have them (IBM Runtime)."""
        kind = {"train": "session", "score": "batch"}[purpose] if self.execution_mode == "auto" else self.execution_mode
        opener = getattr(self.runner, "open_mode", None)
        if kind == "job" or opener is None:
            yield
            return
        with opener(kind) as mode:
            mode_id = getattr(mode, "session_id", None)
            if mode_id:
                self._stats["mode_ids"].append(mode_id)
            yield

    def _key(self, pubs: list) -> str:
        digest = hashlib.sha256(repr((self.name, getattr(self.runner.backend, "name", None), self.noise,
                                      str(self.runner.target.num_qubits), self.program.readout, self.runner.shots,
                                      self.optimization_level, self.seed, self.circuit)).encode())
        for tag, values in pubs:
            digest.update(tag.encode())
            digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
        return digest.hexdigest()

    def run(self, items: list) -> list[np.ndarray]:
        """Execute [(compiled, rows, reduce)]: rows of full values (x..., theta...) bound to the compiled circuit,
        reduce(frequencies) -> one result per binding. Bindings are packed into as few jobs as the limits allow
        (several PUBs per job); finished jobs come from the journal, submitted ones are collected by id."""
        jobs_spec = self._pack(items)
        tic = time.perf_counter()
        keys = [self._key([(items[i][0].tag, v) for i, v in spec]) for spec in jobs_spec]
        results: list = [None] * len(jobs_spec)
        jobs: list = [None] * len(jobs_spec)

        def complete(n: int) -> None:
            job, jobs[n] = jobs[n], None
            outcome = self._collect(job, keys[n])
            results[n] = [items[i][2](freq) for (i, _), freq in zip(jobs_spec[n], outcome)]
            if self.journal:
                self.journal.record_done(keys[n], job.job_id(), results[n])
            # A collected local job is never fetched again (its result is journaled): free it, or a training
            # run on a simulator would keep every step's job and result alive.
            _LOCAL_JOBS.pop(job.job_id(), None)

        # A remote backend gets every job before any is waited on, so they queue together; an in-process simulator
        # has no queue, and each job is collected at once so that one job's samples are held at a time.
        for n, (spec, key) in enumerate(zip(jobs_spec, keys)):
            if self.journal and key in self.journal.finished:
                journaled = self.journal.finished[key]["results"]
                if result_fits(journaled, [len(v) for _, v in spec], [items[i][2].bounds for i, _ in spec]):
                    results[n] = [np.asarray(r, dtype=float) for r in journaled]
                    self._stats["results_from_journal"] += 1
                    continue
                self.journal.discard(key)  # damaged: run the job again rather than trust it
            if self.journal and key in self.journal.submitted:
                jobs[n] = self.runner.retrieve(self.journal.submitted[key]["job_id"])
                if jobs[n] is not None:
                    self._stats["jobs_collected_by_id"] += 1
                    continue
            pubs = [(items[i][0].isa, v) for i, v in spec]
            jobs[n] = self._retry(lambda p=pubs, s=int(key[:8], 16): self.runner.submit(p, s))
            self.submissions += 1
            job_id = jobs[n].job_id()
            if self.journal:
                self.journal.record_submitted(key, job_id, self.name, sum(len(v) for _, v in spec), self.runner.shots)
            mode = type(self.runner.mode).__name__.lower() if getattr(self.runner, "mode", None) else "job"
            self._stats["jobs_by_mode"][mode] = self._stats["jobs_by_mode"].get(mode, 0) + 1
            self._stats["jobs"] += 1
            self._stats["job_ids"].append(job_id)
            for hook in self.on_submit:
                hook(job_id)
            if self.runner.local:
                complete(n)
        for n, job in enumerate(jobs):
            if job is not None:
                complete(n)
        self._stats["bindings"] += sum(len(v) for spec in jobs_spec for _, v in spec)
        self._stats["pubs"] += sum(map(len, jobs_spec))
        self._stats["seconds"] += time.perf_counter() - tic
        per_item: list[list] = [[] for _ in items]
        for spec, result in zip(jobs_spec, results):
            for (i, _), part in zip(spec, result):
                per_item[i].append(part)
        return [np.concatenate(parts) for parts in per_item]

    def _pack(self, items: list) -> list[list]:
        """Jobs as lists of (item index, values): each item's bound rows cut to at most one job's worth of
        bindings, then consecutive pieces packed together (several PUBs per job) up to that limit."""
        size = self.bindings_per_job()
        jobs: list[list] = []
        for index, (compiled, rows, _) in enumerate(items):
            values = np.asarray(rows, dtype=float)[:, compiled.columns]
            for piece in (values[i : i + size] for i in range(0, len(values), size)):
                if not jobs or sum(len(v) for _, v in jobs[-1]) + len(piece) > size:
                    jobs.append([])
                jobs[-1].append((index, piece))
        return jobs

    def _retry(self, fn):
        return with_retries(fn, attempts=self.retries, base_delay=self.retry_delay, sleep=self.sleep)

    def _collect(self, job, key: str) -> list[np.ndarray]:
        """The job's outcomes; a job that fails for good becomes one line naming it (journaled as failed, so a
        rerun submits the work again instead of collecting a dead job)."""
        try:
            return self._retry(lambda: self.runner.collect(job))
        except Exception as exc:  # noqa: BLE001  whatever the provider raises
            reason = _scrub((str(exc).strip().splitlines() or [""])[0], os.environ.get("QISKIT_IBM_TOKEN"))
            if self.journal:
                self.journal.record_failed(key, job.job_id(), f"{type(exc).__name__}: {reason}")
            where = f"; journal {self.journal.path}" if self.journal else ""
            raise QhepError(f"backend {self.name}: job {job.job_id()} failed: {type(exc).__name__}: {reason}"
                            f"{where}") from None

    @staticmethod
    def rows(x: np.ndarray, weight_sets: np.ndarray) -> np.ndarray:
        """Full rows (S*N, n + P): every event under every weight set."""
        x = np.asarray(x, dtype=float)
        weight_sets = np.asarray(weight_sets, dtype=float).reshape(len(weight_sets), -1)
        rows = np.concatenate([np.repeat(x[None], len(weight_sets), axis=0),
                               np.repeat(weight_sets[:, None], len(x), axis=1)], axis=2)
        return rows.reshape(-1, rows.shape[-1])

    def fidelity_sets(self, x: np.ndarray, weight_sets: np.ndarray) -> np.ndarray:
        """Fidelities (S, N) of N events under S weight sets, all in one PUB (split only by job limits)."""
        (zero,) = self.run([(self.main, self.rows(x, weight_sets), p_zero)])
        return self.program.fidelity(zero).reshape(len(weight_sets), len(x))

    def fidelity(self, x, params) -> torch.Tensor:
        """Trash fidelity per event; differentiable in params (parameter shift on this backend)."""
        params = torch.as_tensor(params, dtype=torch.float64)
        x = np.asarray(torch.as_tensor(x, dtype=torch.float64).detach())
        if torch.is_grad_enabled() and params.requires_grad:
            return _ParameterShift.apply(params, self, x)
        weights = params.detach().numpy().reshape(1, -1)
        return torch.as_tensor(self.fidelity_sets(x, weights)[0])

    def metric_tensor(self, x, params, approx: str = "block-diag") -> torch.Tensor:
        """The block-diagonal (or diagonal) metric, averaged over the events in x, measured on this backend:
        one circuit per parametrised layer, all layers' PUBs in one job (see qhep.quantum.qiskit_metric)."""
        if approx not in ("block-diag", "diag"):
            raise QhepError(f"backend {self.name} measures the block-diag or diag metric tensor; the full one needs "
                            "Hadamard tests on an extra qubit: use method.qng_approx=block-diag, or train on an "
                            "exact engine with method.train_backend=fast")
        layers = self.metric_layers()
        x = np.asarray(torch.as_tensor(x, dtype=torch.float64).detach())
        rows = self.rows(x, np.asarray(torch.as_tensor(params).detach()).reshape(1, -1))
        compiled = [self.compile(f"metric-{i}", layer.circuit, layer.qubits) for i, layer in enumerate(layers)]
        blocks = self.run([(c, rows, covariance_blocks) for c in compiled])
        g = np.zeros((self.circuit.n_params, self.circuit.n_params))
        for layer, block in zip(layers, blocks):
            m = len(layer.params)
            g[np.ix_(layer.params, layer.params)] = block.reshape(len(x), m, m).mean(axis=0)
        return torch.as_tensor(np.diag(np.diag(g)) if approx == "diag" else g)

    def metric_layers(self) -> list:
        if self._metric_layers is None:
            self._metric_layers = metric_layers(build_qiskit_circuit(self.circuit, "trash", measure=False))
        return self._metric_layers

    # --- figures ----------------------------------------------------------------------------------------------
    def circuit_figures(self) -> dict:
        main = self.main
        gates = [inst.operation for inst in main.isa.data if inst.operation.name not in NOT_MEASURED]
        figures = {
            "backend": self.name,
            "device": getattr(self.runner.backend, "name", None),
            "readout": self.program.readout,
            "optimization_level": self.optimization_level,
            "transpiled_depth": main.isa.depth(lambda inst: inst.operation.name not in NOT_MEASURED),
            "transpiled_gates": len(gates),
            "two_qubit_gates": sum(g.num_qubits == 2 for g in gates),
            "physical_qubits": [int(q) for q in main.physical_qubits],
            "shots": self.runner.shots,
        }
        if any(g.num_qubits > 2 for g in gates):
            figures["three_qubit_gates"] = sum(g.num_qubits > 2 for g in gates)
        return figures

    def resources(self) -> dict:
        """Circuit figures plus what the runs so far used: circuits, bindings, PUBs, jobs (ids, modes), seconds."""
        discarded = {"journal_entries_discarded": self.journal.discarded} if self.journal else {}
        return {**self.circuit_figures(), "circuits": len(self._compiled), **discarded,
                **{k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
                   for k, v in self._stats.items()}}

    def plan(self, bindings: int, jobs: int | None = None) -> dict:
        """What executing `bindings` bindings (in at least `jobs` jobs) would submit, without submitting: shots and
        an estimate of QPU time, with every circuit counted as long as the full QAE (an upper bound)."""
        shots = self.runner.shots
        try:
            circuit_seconds = float(self.isa.estimate_duration(self.runner.target, unit="s"))
        except Exception:  # noqa: BLE001  targets without instruction durations (ideal simulators)
            circuit_seconds = None
        rep_delay = getattr(self.runner.backend, "default_rep_delay", None) or _config_value(
            self.runner.backend, "default_rep_delay")
        per_shot = (circuit_seconds or 0.0) + (rep_delay or 0.0)
        return {
            "bindings": bindings,
            "jobs": max(jobs or 0, math.ceil(bindings / self.bindings_per_job())),
            "total_shots": bindings * shots if shots else None,
            "circuit_seconds": circuit_seconds,
            "rep_delay_seconds": rep_delay,
            "estimated_qpu_seconds": bindings * shots * per_shot if shots and per_shot else None,
            "estimated_qpu_time": format_duration(bindings * shots * per_shot) if shots and per_shot else None,
        }


class _ParameterShift(torch.autograd.Function):
    @staticmethod
    def forward(ctx, params, engine, x):
        flat = params.detach().numpy().reshape(-1)
        shifts = np.eye(len(flat)) * (np.pi / 2)
        fid = engine.fidelity_sets(x, np.concatenate([flat[None], flat + shifts, flat - shifts]))
        p = len(flat)
        ctx.jacobian = torch.as_tensor((fid[1 : p + 1] - fid[p + 1 :]) / 2.0)  # (P, N)
        ctx.shape = params.shape
        return torch.as_tensor(fid[0])

    @staticmethod
    def backward(ctx, grad_output):
        return (ctx.jacobian @ grad_output.to(ctx.jacobian.dtype)).reshape(ctx.shape), None, None


# --- backend resolution -----------------------------------------------------------------------------------------
def _config_value(backend, key):
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


def _engine_options(settings) -> dict:
    return {"readout": settings.readout, "optimization_level": settings.optimization_level,
            "max_bindings_per_job": settings.max_bindings_per_job,
            "max_executions_per_job": settings.max_executions_per_job, "seed": settings.seed,
            "journal": settings.journal, "execution": getattr(settings, "execution", "auto")}


def aer_engine(circuit: QAECircuit, settings) -> QiskitEngine:
    from qiskit_aer import AerSimulator
    from qiskit_aer.primitives import SamplerV2 as AerSampler

    from qhep.quantum.noise import scaled_noise_model

    noise_model, device = None, None
    if settings.noise:
        kind, _, device_name = settings.noise.partition(":")
        if kind != "fake" or not device_name:
            raise QhepError(f"backend.noise must be null or 'fake:<FakeDeviceName>', got {settings.noise!r}")
        device = fake_device(device_name)
        noise_model = scaled_noise_model(device, settings.noise_scale)  # None at scale 0: same gates, no noise
    method = settings.method
    if method == "automatic" and settings.shots is None:
        method = "density_matrix" if noise_model else "statevector"
    threads = {"max_parallel_threads": settings.threads}  # 0: all cores; busy shared cores run 1 thread ~7x faster
    simulator = AerSimulator(method=method, noise_model=noise_model, **threads)
    target = device.target if device is not None else simulator.target  # noisy runs use the device's gates
    if settings.shots is None:
        runner = ExactAerRunner(settings.name, simulator, target, device, noise_model)
    else:
        backend_options = {"method": method, **threads, **({"noise_model": noise_model} if noise_model else {})}
        runner = SamplerRunner(settings.name, device or simulator,
                               lambda seed, _mode: AerSampler(default_shots=settings.shots, seed=seed,
                                                              options={"backend_options": backend_options}),
                               settings.shots, target=target)
    noise = f"{settings.noise}x{settings.noise_scale} {method}" if settings.noise else method
    return QiskitEngine(circuit, runner, noise=noise, **_engine_options(settings))


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


def fake_engine(circuit: QAECircuit, settings) -> QiskitEngine:
    runner = runtime_runner(settings.name, fake_device(settings.device), settings.shots)
    return QiskitEngine(circuit, runner, **_engine_options(settings))


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def runtime_service(channel: str, instance: str | None):
    """QiskitRuntimeService from QISKIT_IBM_TOKEN or the saved account; errors never carry the token."""
    from qiskit_ibm_runtime import QiskitRuntimeService

    token = os.environ.get("QISKIT_IBM_TOKEN") or None
    try:
        return QiskitRuntimeService(channel=channel, token=token, instance=instance)
    except Exception as exc:  # noqa: BLE001  any failure becomes one line without the token
        reason = _scrub((str(exc).strip().splitlines() or [""])[0], token)
        source = "the token in QISKIT_IBM_TOKEN" if token else "the saved account (none found?)"
        raise QhepError(f"cannot open IBM Quantum ({channel}) with {source}: {type(exc).__name__}: {reason}; "
                        "set QISKIT_IBM_TOKEN or save an account with QiskitRuntimeService.save_account") from None


def ibm_engine(circuit: QAECircuit, settings, service=None) -> QiskitEngine:
    """IBM Quantum through Runtime. `service` stands in for QiskitRuntimeService (tests pass one whose
    backends are fake devices, which runs everything but the connection in local testing mode)."""
    token = os.environ.get("QISKIT_IBM_TOKEN") or None
    service = service or runtime_service(settings.channel, settings.instance)
    try:
        backend = (service.backend(settings.device) if settings.device
                   else service.least_busy(operational=True, simulator=False))
    except QhepError:
        raise
    except Exception as exc:  # noqa: BLE001  likewise
        reason = _scrub((str(exc).strip().splitlines() or [""])[0], token)
        raise QhepError(f"IBM Quantum backend {settings.device or '(least busy)'}: {type(exc).__name__}: "
                        f"{reason}") from None
    runner = runtime_runner(settings.name, backend, settings.shots, retrieve=service.job)
    return QiskitEngine(circuit, runner, **_engine_options(settings))
