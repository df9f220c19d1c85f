"""Training beyond the exact simulator: the block-diagonal metric measured on a Qiskit backend, QNG and SPSA on
Qiskit backends, multi-PUB jobs, and Runtime's Session (training) and Batch (scoring) execution modes."""
import numpy as np
import pennylane as qml
import pytest
import torch

from qhep.errors import QhepError
from qhep.methods.qae import QAEConfig, QuantumAutoencoder
from qhep.quantum.ansatz import QAECircuit
from qhep.quantum.backends import AerBackend, FakeDeviceBackend, FastBackend, IBMBackend
from qhep.quantum.fast import FastEngine, parametrized_layers
from qhep.quantum.spsa import SPSA
from tests.test_qiskit_backends import LocalService

X = np.random.default_rng(8).normal(size=(40, 4))


@pytest.mark.parametrize("spec", [(2, "rot", "ring", "rx"), (3, "ry", "all", "ry")])
def test_measured_metric_equals_the_exact_block_diagonal_metric(spec):
    circuit = QAECircuit(4, 2, *spec)
    rng = np.random.default_rng(3)
    x, params = torch.tensor(rng.uniform(0, np.pi, (5, 4))), torch.tensor(circuit.init_params(rng))
    fast = FastEngine(circuit)
    engine = AerBackend(shots=None).engine(circuit)
    for approx in ("block-diag", "diag"):
        got = engine.metric_tensor(x, params, approx).numpy()
        assert np.abs(got - fast.metric_tensor(x, params, approx).numpy()).max() < 1e-10
    layers = engine.metric_layers()  # grouped as PennyLane groups them (which the fast engine's mask follows)
    index = np.zeros(circuit.n_params, dtype=int)
    for i, layer in enumerate(layers):
        index[list(layer.params)] = i
    assert (index == parametrized_layers(circuit)).all()
    figures = engine.resources()  # every layer's circuit bound to every event, all in one job per call
    assert figures["jobs"] == 2 and figures["pubs"] == 2 * len(layers)
    assert figures["circuits"] == 1 + len(layers)  # the layers and the QAE itself, whose figures these are
    with pytest.raises(QhepError, match="block-diag"):
        engine.metric_tensor(x, params, "full")


def test_measured_metric_with_shots_is_within_statistical_error():
    circuit, shots = QAECircuit(4, 2, 2, "rot", "ring"), 20000
    rng = np.random.default_rng(4)
    x, params = torch.tensor(rng.uniform(0, np.pi, (4, 4))), torch.tensor(circuit.init_params(rng))
    want = FastEngine(circuit).metric_tensor(x, params).numpy()
    got = AerBackend(shots=shots, seed=2).engine(circuit).metric_tensor(x, params).numpy()
    # each entry: a mean over 4 events of a covariance of +-1/2 variables, standard error <= 1/(4 sqrt(shots))
    assert np.abs(got - want).max() < 5 / (4 * np.sqrt(shots)) and np.abs(got - want).max() > 0
    assert (got[want == 0] == 0).all()  # the block structure is exact


@pytest.mark.parametrize("optimizer", ["qng", "spsa"])
def test_training_on_exact_aer_follows_the_fast_engine(optimizer):
    config = QAEConfig(n_layers=1, epochs=1, batch_size=20, optimizer=optimizer)
    fast, aer = (QuantumAutoencoder(config, seed=1, backend=b, progress=False).fit(X)
                 for b in (FastBackend(), AerBackend(shots=None)))
    assert torch.allclose(fast.params, aer.params, atol=1e-8, rtol=0)
    assert (fast.params - torch.tensor(QAECircuit(4, 2, 1, "rot", "ring").init_params(np.random.default_rng(1)))
            ).abs().max() > 1e-3  # it did train
    execution = aer.resources()["training_execution"]
    if optimizer == "qng":  # per step: one parameter-shift job and one job measuring every metric layer
        assert execution["jobs"] == 4 and execution["circuits"] == 1 + len(aer.engine.metric_layers())
    else:  # per step: one job with both perturbed weight sets bound to the batch
        assert execution["jobs"] == 2 and execution["bindings"] == 2 * 2 * 20


def test_spsa_update_is_pennylanes():
    target = np.array([[0.3, -1.2, 0.7], [2.0, 0.1, -0.4]])

    def loss(p):
        return qml.numpy.sum(qml.numpy.sin(p - target) ** 2)

    np.random.seed(11)
    reference, theirs = qml.SPSAOptimizer(maxiter=30), qml.numpy.array(np.zeros((2, 3)), requires_grad=True)
    for _ in range(5):
        theirs = reference.step(loss, theirs)
    np.random.seed(11)  # the same perturbations: ours draws them from the generator it is given
    ours = torch.zeros((2, 3), dtype=torch.float64)
    spsa = SPSA(ours, 30, lr=0.05, rng=np.random)
    for _ in range(5):
        spsa.step(lambda sets: [float(loss(w.numpy())) for w in sets])
    assert np.abs(np.asarray(theirs) - ours.numpy()).max() < 1e-12
    assert loss(ours.numpy()) < loss(np.zeros((2, 3))) - 0.3


def test_spsa_lowers_the_loss_and_is_deterministic():
    events = np.random.default_rng(0).normal(size=(400, 4))
    config = QAEConfig(n_layers=2, epochs=10, batch_size=20, optimizer="spsa")
    first, second = (QuantumAutoencoder(config, seed=0, progress=False).fit(events) for _ in range(2))
    assert first.history[-1] < first.history[0] - 0.03
    assert first.history == second.history and torch.equal(first.params, second.params)


def test_spsa_with_shots_is_seeded():
    config = QAEConfig(n_layers=1, epochs=1, batch_size=20, optimizer="spsa")
    runs = [QuantumAutoencoder(config, seed=2, backend=AerBackend(shots=300), progress=False).fit(X) for _ in range(2)]
    assert runs[0].history == runs[1].history and torch.equal(runs[0].params, runs[1].params)


def _on_local_service(settings: IBMBackend) -> IBMBackend:
    """The ibm backend with its service connection replaced by fake devices (Runtime's local testing mode)."""
    settings.engine = lambda circuit: IBMBackend.engine(settings, circuit, service=LocalService())
    return settings


@pytest.mark.parametrize("execution, train_mode, score_mode", [("auto", "session", "batch"), ("job", "job", "job"),
                                                               ("batch", "batch", "batch")])
def test_training_runs_in_a_session_and_scoring_in_a_batch(execution, train_mode, score_mode):
    backend = _on_local_service(IBMBackend(device="fake_manila", shots=200, execution=execution))
    model = QuantumAutoencoder(QAEConfig(n_layers=1, epochs=1, batch_size=10, optimizer="spsa"), seed=0,
                               backend=backend, progress=False).fit(X[:20])
    scores = model.anomaly_score(X[:7])
    resources = model.resources()
    assert resources["training_execution"]["jobs_by_mode"] == {train_mode: 2}
    assert resources["execution"]["jobs_by_mode"] == ({train_mode: 3} if train_mode == score_mode
                                                     else {train_mode: 2, score_mode: 1})
    assert scores.shape == (7,) and ((scores >= 0) & (scores <= 1)).all()


def test_qng_on_a_fake_device_measures_its_metric_there():
    model = QuantumAutoencoder(QAEConfig(n_layers=1, epochs=1, batch_size=10, optimizer="qng", qng_metric_events=4),
                               seed=0, backend=FakeDeviceBackend(device="FakeManilaV2", shots=500), progress=False)
    model.fit(X[:10])
    execution = model.resources()["training_execution"]
    assert execution["jobs_by_mode"] == {"session": 2}
    assert execution["circuits"] == 1 + len(model.engine.metric_layers())
    assert torch.isfinite(model.params).all()


def test_unknown_execution_mode_is_one_clear_error():
    from qhep.config import compose_run

    with pytest.raises(QhepError, match="backend.execution: choose one of: auto, job, batch, session"):
        compose_run(["backend=fake", "backend.execution=sessions"])


def test_cli_runs_ibm_end_to_end_in_local_testing_mode(tmp_path, capsys, monkeypatch, lhco_file):
    """`qhep run backend=ibm` with only the service connection replaced: Runtime's SamplerV2, Session and Batch run
    on a fake device; training (SPSA) and scoring both execute there, and the record carries the figures."""
    import json

    from qhep.cli import main

    monkeypatch.setattr("qhep.quantum.qiskit_engine.runtime_service", lambda channel, instance: LocalService())
    code = main(["run", "task=lhco", "method=qae", "backend=ibm", "backend.device=fake_manila", "backend.shots=256",
                 "method.optimizer=spsa", "method.n_layers=1", "method.epochs=1", f"task.data.path={lhco_file}",
                 f"results_dir={tmp_path}", "task.region=all", "progress=false", "plots=false"])
    _, err = capsys.readouterr()
    assert code == 0, err
    (path,) = tmp_path.rglob("result.json")
    record = json.loads(path.read_text())
    execution, training = record["resources"]["execution"], record["resources"]["training_execution"]
    assert record["backend"] == "ibm" and execution["device"] == "fake_manila" and execution["shots"] == 256
    assert training["jobs_by_mode"] == {"session": 2} and execution["jobs_by_mode"]["batch"] >= 1
    assert execution["two_qubit_gates"] > 0 and len(execution["physical_qubits"]) == 4
    # two SPSA steps leave the model barely trained: its scores separate the fixture's classes, in either direction
    assert abs(record["metrics"]["auc"] - 0.5) > 0.2
    journal = [json.loads(line) for line in (path.parent / "jobs.jsonl").read_text().splitlines()]
    assert {e["job_id"] for e in journal if e["event"] == "submitted"} == set(execution["job_ids"])


def test_a_job_that_fails_for_good_is_named_and_resubmitted_on_rerun(tmp_path):
    x, params = torch.tensor(X[:6] % np.pi), torch.tensor(QAECircuit(4, 2, 1, "rot", "ring").init_params(
        np.random.default_rng(0)))
    settings = AerBackend(shots=100, journal=str(tmp_path))
    first = settings.engine(QAECircuit(4, 2, 1, "rot", "ring"))
    first.sleep = lambda seconds: None

    def broken(job):
        raise RuntimeError("Error code 1517; job exceeded the device's maximum execution time")

    first.runner.collect = broken
    with pytest.raises(QhepError) as failure:
        first.fidelity(x, params)
    (job_id,) = first.resources()["job_ids"]
    assert f"job {job_id} failed" in str(failure.value) and "1517" in str(failure.value)
    assert "\n" not in str(failure.value) and "jobs.jsonl" in str(failure.value)
    second = settings.engine(QAECircuit(4, 2, 1, "rot", "ring"))  # the rerun sends the work again
    assert second.fidelity(x, params).shape == (6,) and second.submissions == 1
    assert second.resources()["jobs_collected_by_id"] == 0
