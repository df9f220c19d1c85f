"""Qiskit backends of the QAE: the translated circuit, Aer (exact and sampled), fake devices, the IBM path in
local testing mode, parameter-shift gradients, the job journal, retries and token hygiene."""
import json
import logging
import traceback

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector

from qhep.cli import main
from qhep.errors import QhepError
from qhep.methods.qae import QAEConfig, QuantumAutoencoder
from qhep.quantum.ansatz import QAECircuit
from qhep.quantum.backends import AerBackend, FakeDeviceBackend, FastBackend, IBMBackend
from qhep.quantum.fast import FastEngine
from qhep.quantum.journal import JobJournal, is_transient, with_retries
from qhep.quantum.qiskit_circuit import bind_row, build_qiskit_circuit
from qhep.quantum.qiskit_engine import fake_device

CIRCUIT = QAECircuit(4, n_trash=2, n_layers=1, rotation="rot", entangler="ring")
TOKEN = "QHEPDUMMYTOKEN-9f3a7c"


def events(n, seed=0, high=np.pi):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, high, (n, 4)), CIRCUIT.init_params(rng)


def exact(x, params, circuit=CIRCUIT):
    return FastEngine(circuit).fidelity(torch.tensor(x), torch.tensor(params)).numpy()


@pytest.mark.parametrize("spec", [(2, "rot", "ring", "rx"), (3, "ry", "all", "ry")])
def test_qiskit_statevector_equals_fast_engine(spec):
    layers, rotation, entangler, encoding = spec
    circuit = QAECircuit(4, 2, layers, rotation, entangler, encoding)
    rng = np.random.default_rng(7)
    x, params = rng.uniform(0, np.pi, (3, 4)), circuit.init_params(rng)
    fast = FastEngine(circuit)
    states = fast.states(torch.tensor(x), torch.tensor(params)).numpy()
    for readout in ("trash", "swap_test"):
        program = build_qiskit_circuit(circuit, readout, measure=False)
        for row, want_state, want in zip(x, states, exact(x, params, circuit)):
            state = Statevector(bind_row(program, row, params))
            got = program.fidelity(state.probabilities(list(program.readout_qubits))[0])
            assert abs(got - want) < 1e-10
            if readout == "trash":  # Qiskit's qubit 0 is the least significant bit, PennyLane's wire 0 the most
                assert np.abs(state.reverse_qargs().data - want_state).max() < 1e-10


def test_exact_aer_fidelity_and_parameter_shift_gradient_equal_fast():
    x, params = events(6)
    fast_params = torch.tensor(params, requires_grad=True)
    fast = FastEngine(CIRCUIT).fidelity(torch.tensor(x), fast_params)
    fast.mean().backward()
    for readout in ("trash", "swap_test"):
        engine = AerBackend(shots=None, readout=readout).engine(CIRCUIT)
        weights = torch.tensor(params, requires_grad=True)
        got = engine.fidelity(torch.tensor(x), weights)
        got.mean().backward()
        assert torch.allclose(got, fast.detach(), atol=1e-10, rtol=0)
        assert torch.allclose(weights.grad, fast_params.grad, atol=1e-6, rtol=0)
    # one PUB: base weights + 2 shifts per parameter, for every event
    assert engine.resources()["bindings"] == 6 * (2 * CIRCUIT.n_params + 1) and engine.resources()["jobs"] == 1


def test_aer_shots_within_statistical_error():
    shots, x, params = 4000, *events(12, seed=1)
    want = exact(x, params)
    engine = AerBackend(shots=shots, seed=3).engine(CIRCUIT)
    weights = torch.tensor(params, requires_grad=True)
    got = engine.fidelity(torch.tensor(x), weights)
    sigma = np.sqrt(want * (1 - want) / shots) + 1.0 / shots
    assert (np.abs(got.detach().numpy() - want) < 5 * sigma).all()
    assert np.abs(got.detach().numpy() - want).max() > 0  # it did sample
    got.mean().backward()
    reference = torch.tensor(params, requires_grad=True)
    FastEngine(CIRCUIT).fidelity(torch.tensor(x), reference).mean().backward()
    # each component: mean over events of (F+ - F-)/2, binomial variance F(1-F)/shots per term, <= 1/4
    grad_sigma = np.sqrt(2 * 0.25 / shots / 4 / len(x))
    assert (np.abs((weights.grad - reference.grad).numpy()) < 5 * grad_sigma).all()


def test_fake_device_noise_lowers_fidelity_and_reports_figures():
    # near-|0> inputs and identity rotations: the exact fidelity is close to 1, so device noise can only lower it
    circuit = QAECircuit(4, 2, 1, "ry", "ring")
    x, params = np.random.default_rng(2).uniform(0, 0.6, (16, 4)), np.zeros(circuit.param_shape)
    want = FastEngine(circuit).fidelity(torch.tensor(x), torch.tensor(params)).numpy()
    shots = 2000
    engine = FakeDeviceBackend(device="FakeManilaV2", shots=shots).engine(circuit)
    got = engine.fidelity(torch.tensor(x), torch.tensor(params)).numpy()
    assert want.mean() > 0.85 and want.mean() - got.mean() > 5 * np.sqrt(0.25 / shots / len(x))
    figures = engine.resources()
    assert figures["device"] == "fake_manila" and figures["shots"] == shots and figures["jobs"] == 1
    assert figures["two_qubit_gates"] >= 4 and figures["transpiled_depth"] >= 4  # the CNOT ring, routed
    assert len(figures["physical_qubits"]) == 4 and set(figures["physical_qubits"]) <= set(range(5))
    plan = engine.plan(100_000)
    # 10^7 shots x bindings per job at 2000 shots: 5000 bindings per job
    assert plan["bindings"] == 100_000 and plan["jobs"] == 20 and plan["total_shots"] == 100_000 * shots
    assert plan["estimated_qpu_seconds"] > 100_000 * shots * plan["rep_delay_seconds"]
    assert engine.plan(10, jobs=3)["jobs"] == 3
    # noisy Aer from the same device's gate noise, exact (density matrix, no readout error): lower for every event
    noisy = AerBackend(shots=None, noise="fake:FakeManilaV2").engine(circuit)
    assert (noisy.fidelity(torch.tensor(x), torch.tensor(params)).numpy() < want - 1e-3).all()


class LocalService:
    """Stands in for QiskitRuntimeService: its devices are fake ones, so Runtime runs in local testing mode."""

    def __init__(self):
        self.asked = []

    def backend(self, name):
        self.asked.append(name)
        return fake_device({"fake_manila": "FakeManilaV2"}[name])

    def least_busy(self, operational=True, simulator=False):
        return self.backend("fake_manila")

    def job(self, job_id):
        raise AssertionError("local testing mode keeps its jobs in process")


@pytest.mark.parametrize("device", ["fake_manila", None])
def test_ibm_path_in_local_testing_mode(device):
    x, params = events(5, seed=4)
    service = LocalService()
    engine = IBMBackend(device=device, shots=500).engine(CIRCUIT, service=service)
    weights = torch.tensor(params, requires_grad=True)
    got = engine.fidelity(torch.tensor(x), weights)
    got.sum().backward()
    assert service.asked == ["fake_manila"] and got.shape == (5,) and ((got >= 0) & (got <= 1)).all()
    assert np.abs(got.detach().numpy() - exact(x, params)).mean() < 0.15  # noisy, but the same circuit
    assert weights.grad.shape == params.shape and torch.isfinite(weights.grad).all()
    figures = engine.resources()
    assert figures["backend"] == "ibm" and len(figures["job_ids"]) == 1 and figures["bindings"] == 5 * 25


def test_token_never_appears_in_errors_or_logs(monkeypatch, capsys, caplog):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(QhepError) as real:  # the real service: no network or an invalid token, either way no secret
        IBMBackend(device="ibm_brisbane").engine(CIRCUIT)

    class Leaky:  # a library that echoes the token in its error
        def __init__(self, **kwargs):
            raise ValueError(f"invalid token {kwargs['token']}")

    monkeypatch.setattr("qiskit_ibm_runtime.QiskitRuntimeService", Leaky)
    with pytest.raises(QhepError) as leaky:
        IBMBackend().engine(CIRCUIT)
    assert "***" in str(leaky.value)
    out, err = capsys.readouterr()
    for text in (str(real.value), str(leaky.value), "".join(traceback.format_exception(real.value)),
                 "".join(traceback.format_exception(leaky.value)), out, err, caplog.text):
        assert TOKEN not in text
    assert "QISKIT_IBM_TOKEN" in str(real.value)


class Interrupted(Exception):
    pass


def test_journal_resumes_without_resubmitting(tmp_path):
    x, params = events(10, seed=5)
    settings = AerBackend(shots=200, max_bindings_per_job=4, journal=str(tmp_path / "run"))
    first = settings.engine(CIRCUIT)

    def interrupt(job_id):
        raise Interrupted(job_id)

    first.on_submit.append(interrupt)
    with pytest.raises(Interrupted):
        first.fidelity(torch.tensor(x), torch.tensor(params))
    assert first.submissions == 1
    second = settings.engine(CIRCUIT)  # the rerun: same settings, same journal
    got = second.fidelity(torch.tensor(x), torch.tensor(params))
    figures = second.resources()
    assert second.submissions == 2 and figures["jobs_collected_by_id"] == 1  # 3 jobs in all, none sent twice
    third = settings.engine(CIRCUIT)
    again = third.fidelity(torch.tensor(x), torch.tensor(params))
    assert third.submissions == 0 and third.resources()["results_from_journal"] == 3 and torch.equal(got, again)
    lines = [json.loads(line) for line in (tmp_path / "run" / "jobs.jsonl").read_text().splitlines()]
    assert [e["event"] for e in lines].count("submitted") == 3 and [e["event"] for e in lines].count("done") == 3
    with open(tmp_path / "run" / "jobs.jsonl", "a") as handle:  # a write cut short by a crash
        handle.write('{"event":"done","key":"ab')
    assert len(JobJournal(tmp_path / "run").finished) == 3


def test_transient_errors_are_retried_with_backoff():
    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("reset by peer")
        return "ok"

    assert with_retries(flaky, attempts=4, base_delay=1.5, sleep=sleeps.append) == "ok"
    assert len(calls) == 3 and sleeps == [1.5, 3.0]

    def broken():
        calls.append(1)
        raise ValueError("bad circuit")

    calls.clear()
    with pytest.raises(ValueError):
        with_retries(broken, sleep=sleeps.append)
    assert len(calls) == 1

    class HTTPError(Exception):
        def __init__(self, status_code):
            self.status_code = status_code

    assert is_transient(HTTPError(503)) and is_transient(HTTPError(429)) and not is_transient(HTTPError(401))
    # inside the engine: a submission failing once is retried, and counted once
    x, params = events(3, seed=6)
    engine = AerBackend(shots=100).engine(CIRCUIT)
    engine.sleep = sleeps.append
    submit, failures = engine.runner.submit, []

    def submit_once_failing(*args):
        if not failures:
            failures.append(1)
            raise TimeoutError("gateway")
        return submit(*args)

    engine.runner.submit = submit_once_failing
    assert engine.fidelity(torch.tensor(x), torch.tensor(params)).shape == (3,) and engine.submissions == 1


def test_qae_trains_through_exact_aer_as_through_fast():
    X = np.random.default_rng(8).normal(size=(40, 4))
    config = QAEConfig(n_layers=1, epochs=1, batch_size=20)
    histories = [QuantumAutoencoder(config, seed=1, backend=b, progress=False).fit(X).history
                 for b in (FastBackend(), AerBackend(shots=None))]
    assert abs(histories[0][0] - histories[1][0]) < 1e-8
    from qhep.config import compose_run

    with pytest.raises(QhepError, match="method.train_backend: choose one of"):
        compose_run(["method.train_backend=nope"])
    with pytest.raises(QhepError, match="method.qng_approx=full: this backend computes the block-diag or diag"):
        compose_run(["backend=aer", "method.optimizer=qng", "method.qng_approx=full"])
    with pytest.raises(QhepError, match="block-diag"):  # the full metric needs Hadamard tests
        QuantumAutoencoder(QAEConfig(n_layers=1, epochs=1, optimizer="qng", qng_approx="full"),
                           backend=AerBackend(shots=None), progress=False).fit(X)


def test_cli_pretrains_on_fast_and_scores_on_aer(tmp_path, capsys, lhco_file):
    code = main(["run", "task=lhco", "method=qae", "backend=aer", "backend.shots=1000", "method.train_backend=fast",
                 "method.epochs=1", f"task.data.path={lhco_file}", f"results_dir={tmp_path}", "task.region=all",
                 "progress=false", "plots=false"])
    _, err = capsys.readouterr()
    assert code == 0, err
    (path,) = tmp_path.rglob("result.json")
    record = json.loads(path.read_text())
    assert record["backend"] == "aer" and record["config"]["backend"]["shots"] == 1000
    assert record["config"]["method"]["train_backend"] == "fast"
    assert record["metrics"]["auc"] > 0.6  # the fixture's signal is far from its background
    execution = record["resources"]["execution"]  # what the scoring backend ran, in the record
    assert execution["shots"] == 1000 and execution["jobs"] >= 1 and execution["two_qubit_gates"] > 0
    assert (path.parent / "jobs.jsonl").exists() or any(path.parent.glob("*.jsonl"))  # journal in the run folder


def test_dry_run_submits_nothing_and_estimates_qpu_time(tmp_path, capsys, lhco_file):
    code = main(["run", "method=qae", "backend=fake", "dry_run=true", f"task.data.path={lhco_file}",
                 f"results_dir={tmp_path}", "task.region=all"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)["dry_run"]
    scoring, training = report["scoring"], report["training"]
    assert report["shots"] == 1024 and scoring["bindings"] == 400 and scoring["estimated_qpu_seconds"] > 0
    assert report["two_qubit_gates"] > 0 and not list(tmp_path.rglob("result.json"))
    # default qae: 4 qubits x 5 layers of Rot = 60 weights, Adam with parameter shift: (2 x 60 + 1) bindings per event
    # 9765 bindings per job at 1024 shots: a 128-event step (15,488 bindings) takes 2 jobs, the 72-event one 1
    assert training["steps"] == 20 * 2 and training["bindings"] == 20 * 200 * 121 and training["jobs"] == 20 * 3


def test_exact_noisy_aer_is_the_limit_of_its_shots():
    """Exact mode transpiles the same measured circuit (same layout, so the same qubits' errors) and applies the
    device's readout errors, which Aer leaves out of saved probabilities: shots converge to it."""
    circuit = QAECircuit(4, 2, 1, "ry", "ring")
    x, params = np.random.default_rng(2).uniform(0, 0.6, (8, 4)), np.zeros(circuit.param_shape)
    exact_engine = AerBackend(shots=None, noise="fake:FakeManilaV2").engine(circuit)
    sampled_engine = AerBackend(shots=100_000, noise="fake:FakeManilaV2", seed=1).engine(circuit)
    want = exact_engine.fidelity(torch.tensor(x), torch.tensor(params)).numpy()
    got = sampled_engine.fidelity(torch.tensor(x), torch.tensor(params)).numpy()
    assert exact_engine.main.physical_qubits == sampled_engine.main.physical_qubits
    assert (np.abs(got - want) < 5 * np.sqrt(want * (1 - want) / 100_000)).all()
    exact_engine.runner.readout = {}  # without the readout errors the exact value is far off the sampled one
    exact_engine._compiled.clear()
    gate_noise_only = exact_engine.fidelity(torch.tensor(x), torch.tensor(params)).numpy()
    assert (gate_noise_only - got > 0.01).all()
