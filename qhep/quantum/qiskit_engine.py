"""Qiskit backends for the QAE: Aer, fake IBM devices (local testing mode) and IBM Quantum through Runtime.

This module is the QAE's program; the circuit-agnostic executor (transpiling, PUB packing, journal, retries,
Sessions and Batches) is qhep.quantum.qiskit_executor and the targets are qhep.quantum.qiskit_runners, so other
programs (quantum kernels) reuse both unchanged.

N events are rows of one parameter array bound to ONE parametrised circuit, transpiled ONCE to the target's ISA,
and run as SamplerV2 PUBs of many bindings, packed into as few jobs as the limits allow (several circuits' PUBs
share a job). Gradients use the parameter-shift rule on the same backend: every trainable gate is a Pauli rotation
exp(-i t P / 2), so dF/dt_j = [F(t + pi/2 e_j) - F(t - pi/2 e_j)] / 2, and the 2P shifted weight sets go into the
same PUB as extra bindings; the QNG metric is measured by one circuit per layer (qhep.quantum.qiskit_metric).
On IBM Runtime, training runs in a Session and scoring in a Batch. Submitted job ids go to an optional journal
(qhep.quantum.journal) so an interrupted run resumes without resubmitting.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from qhep.errors import QhepError
from qhep.quantum.ansatz import QAECircuit
from qhep.quantum.qiskit_circuit import build_qiskit_circuit
from qhep.quantum.qiskit_executor import Compiled, QiskitExecutor
from qhep.quantum.qiskit_metric import covariance_blocks, metric_layers
from qhep.quantum.qiskit_runners import (  # runtime_service: looked up here, so tests can replace it
    ExactAerRunner,
    SamplerRunner,
    fake_device,
    runtime_runner,
    runtime_service,
    scrub,
)


def p_zero(frequencies: np.ndarray) -> np.ndarray:
    """Probability that every readout bit is 0, per binding."""
    return frequencies[:, 0]


p_zero.bounds = (0.0, 1.0)  # what a journaled result may hold (qhep.quantum.journal.result_fits)


class QiskitEngine(QiskitExecutor):
    """The QAE's program on a Qiskit target: trash fidelities (and their parameter-shift gradients) of N events as
    bindings of one circuit, and the block-diagonal metric measured one circuit per layer."""

    def __init__(self, circuit: QAECircuit, runner, readout: str = "trash", **options):
        self.circuit = circuit
        self.program = build_qiskit_circuit(circuit, readout, measure=False)
        super().__init__(runner, (self.program.readout, circuit), self.program.parameter_names(), **options)
        self._metric_layers: list | None = None

    @property
    def main(self) -> Compiled:
        """The QAE with its readout (trash register or SWAP-test ancilla)."""
        return self.compile("fidelity", self.program.circuit, self.program.readout_qubits)

    @property
    def isa(self):
        return self.main.isa

    @staticmethod
    def rows(x: np.ndarray, weight_sets: np.ndarray) -> np.ndarray:
        """Full rows (S*N, n + P): every event under every weight set."""
        x = np.asarray(x, dtype=float)
        weight_sets = np.asarray(weight_sets, dtype=float).reshape(len(weight_sets), -1)
        rows = np.concatenate([np.repeat(x[None], len(weight_sets), axis=0),
                               np.repeat(weight_sets[:, None], len(x), axis=1)], axis=2)
        return rows.reshape(-1, rows.shape[-1])

    def fidelity_items(self, x: np.ndarray, weight_sets: np.ndarray) -> list:
        """What the fidelities of N events under S weight sets execute: the QAE bound to every row, in one PUB."""
        return [(self.main, self.rows(x, weight_sets), p_zero)]

    def fidelity_sets(self, x: np.ndarray, weight_sets: np.ndarray) -> np.ndarray:
        """Fidelities (S, N) of N events under S weight sets, all in one PUB (split only by job limits)."""
        (zero,) = self.run(self.fidelity_items(x, weight_sets))
        return self.program.fidelity(zero).reshape(len(weight_sets), len(x))

    def submit_fidelity(self, x, params) -> list[str]:
        """Submit, without waiting, the jobs of `fidelity(x, params)` without gradient (scoring); their ids. A
        later `fidelity(x, params)` collects them by id (same journal keys)."""
        x = np.asarray(torch.as_tensor(x, dtype=torch.float64).detach())
        weights = np.asarray(torch.as_tensor(params, dtype=torch.float64).detach()).reshape(1, -1)
        return self.submit(self.fidelity_items(x, weights))

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

    def circuit_figures(self) -> dict:
        return {**super().circuit_figures(), "readout": self.program.readout}


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


# --- engines for each backend ----------------------------------------------------------------------------------
def engine_options(settings) -> dict:
    """The QiskitEngine keywords a backend's settings give (readout, transpilation, job limits, journal, mode)."""
    return {"readout": settings.readout, "optimization_level": settings.optimization_level,
            "max_bindings_per_job": settings.max_bindings_per_job,
            "max_executions_per_job": settings.max_executions_per_job, "seed": settings.seed,
            "journal": settings.journal, "execution": getattr(settings, "execution", "auto")}


def backend_runner(settings, service=None) -> tuple:
    """(runner, noise label) for an AerBackend, FakeDeviceBackend or IBMBackend settings object: what runs the
    jobs, and the simulator's noise by name (part of a journal key; empty for devices). IBM: `service` stands in
    for QiskitRuntimeService (tests pass one whose backends are fake devices)."""
    from qhep.quantum.backends import AerBackend, FakeDeviceBackend, IBMBackend

    if isinstance(settings, AerBackend):
        return _aer_runner(settings)
    if isinstance(settings, FakeDeviceBackend):
        return runtime_runner(settings.name, fake_device(settings.device), settings.shots), ""
    if isinstance(settings, IBMBackend):
        return _ibm_runner(settings, service), ""
    raise QhepError(f"backend {settings.name} runs no Qiskit jobs; choose backend=aer, fake or ibm")


def _aer_runner(settings) -> tuple:
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
    return runner, noise


def _ibm_runner(settings, service=None):
    token = os.environ.get("QISKIT_IBM_TOKEN") or None
    service = service or runtime_service(settings.channel, settings.instance)
    try:
        backend = (service.backend(settings.device) if settings.device
                   else service.least_busy(operational=True, simulator=False))
    except QhepError:
        raise
    except Exception as exc:  # noqa: BLE001  whatever the service raises becomes one line without the token
        reason = scrub((str(exc).strip().splitlines() or [""])[0], token)
        raise QhepError(f"IBM Quantum backend {settings.device or '(least busy)'}: {type(exc).__name__}: "
                        f"{reason}") from None
    return runtime_runner(settings.name, backend, settings.shots, retrieve=service.job)


def _engine(circuit: QAECircuit, settings, service=None) -> QiskitEngine:
    runner, noise = backend_runner(settings, service)
    return QiskitEngine(circuit, runner, noise=noise, **engine_options(settings))


def aer_engine(circuit: QAECircuit, settings) -> QiskitEngine:
    return _engine(circuit, settings)


def fake_engine(circuit: QAECircuit, settings) -> QiskitEngine:
    return _engine(circuit, settings)


def ibm_engine(circuit: QAECircuit, settings, service=None) -> QiskitEngine:
    """IBM Quantum through Runtime. `service` stands in for QiskitRuntimeService (tests pass one whose
    backends are fake devices, which runs everything but the connection in local testing mode)."""
    return _engine(circuit, settings, service)
