"""backend.noise_scale: a fake device's Aer noise model with every error scaled, on the device's unchanged target."""
import numpy as np
import pytest
import torch
from qiskit.quantum_info import average_gate_fidelity
from qiskit_aer.noise import NoiseModel, ReadoutError, thermal_relaxation_error
from qiskit_aer.noise.device import (
    basic_device_gate_errors,
    basic_device_readout_errors,
)

from qhep.cli import main
from qhep.errors import QhepError
from qhep.quantum.ansatz import QAECircuit
from qhep.quantum.backends import AerBackend
from qhep.quantum.fast import FastEngine
from qhep.quantum.noise import scaled_noise_model, scaled_target
from qhep.quantum.qiskit_engine import fake_device

CIRCUIT = QAECircuit(4, 2, 1, "ry", "ring")
# near-|0> inputs and identity rotations: the noiseless fidelity is close to 1, so noise can only lower it
X = np.random.default_rng(2).uniform(0, 0.6, (8, 4))
PARAMS = np.zeros(CIRCUIT.param_shape)


def fidelities(**settings):
    engine = AerBackend(shots=None, **settings).engine(CIRCUIT)
    return engine.fidelity(torch.tensor(X), torch.tensor(PARAMS)).numpy(), engine


def gate_list(engine):
    isa = engine.isa
    return [(i.operation.name, [isa.find_bit(q).index for q in i.qubits], [str(p) for p in i.operation.params])
            for i in isa.data]


def test_scale_one_is_the_devices_model():
    device = fake_device("FakeManilaV2")
    assert scaled_noise_model(device, 1.0) == NoiseModel.from_backend(device)  # every error channel
    assert scaled_noise_model(device, 2.0) != NoiseModel.from_backend(device)
    mine, _ = fidelities(noise="fake:FakeManilaV2", noise_scale=1.0)
    assert np.abs(mine - fidelities(noise="fake:FakeManilaV2")[0]).max() < 1e-12


@pytest.mark.parametrize("scale", [0.5, 2.0, 4.0])
def test_every_error_is_scaled(scale):
    device = fake_device("FakeManilaV2")
    target, scaled = device.target, scaled_target(device.target, scale)
    cx, q0 = target["cx"][(0, 1)], target.qubit_properties[0]
    # Aer makes a gate's channel (depolarising after relaxation) have average infidelity = the target's error
    gate = {(name, tuple(q)): e for name, q, e in basic_device_gate_errors(target=scaled)}
    assert abs(1 - average_gate_fidelity(gate["cx", (0, 1)]) - scale * cx.error) < 1e-9
    # relaxation alone: T1 and T2 divided by the scale, over the same gate time
    relax = {(name, tuple(q)): e for name, q, e in basic_device_gate_errors(target=scaled, gate_error=False)}
    want = thermal_relaxation_error(q0.t1 / scale, min(q0.t2, 2 * q0.t1) / scale, target["sx"][(0,)].duration)
    assert relax["sx", (0,)] == want
    readout = dict((tuple(q), e) for q, e in basic_device_readout_errors(target=scaled))
    p = scale * target["measure"][(0,)].error
    assert readout[(0,)] == ReadoutError([[1 - p, p], [p, 1 - p]])
    assert target["cx"][(0, 1)].error == cx.error and target.qubit_properties[0].t1 == q0.t1  # the device untouched


def test_errors_are_capped_at_their_physical_maximum():
    scaled = scaled_target(fake_device("FakeManilaV2").target, 1e4)
    assert scaled["cx"][(0, 1)].error == pytest.approx(4 / 5) and scaled["sx"][(0,)].error == pytest.approx(2 / 3)
    assert scaled["measure"][(0,)].error == 0.5


def test_exact_fidelity_falls_monotonically_with_the_scale():
    means = [fidelities(noise="fake:FakeManilaV2", noise_scale=s)[0].mean() for s in (0, 0.25, 0.5, 1, 2, 4)]
    assert means[0] > 0.85 and all(b < a - 1e-3 for a, b in zip(means, means[1:])), means


def test_scale_zero_is_noiseless_on_the_same_transpiled_circuit():
    zero, engine_zero = fidelities(noise="fake:FakeManilaV2", noise_scale=0.0)
    ideal = FastEngine(CIRCUIT).fidelity(torch.tensor(X), torch.tensor(PARAMS)).numpy()
    assert np.abs(zero - ideal).max() < 1e-10
    tiny, engine_tiny = fidelities(noise="fake:FakeManilaV2", noise_scale=1e-7)  # the model's own s -> 0 limit
    assert np.abs(tiny - ideal).max() < 1e-5 and (tiny < ideal).all()
    _, engine_one = fidelities(noise="fake:FakeManilaV2", noise_scale=1.0)
    assert gate_list(engine_zero) == gate_list(engine_tiny) == gate_list(engine_one)  # same layout, routing, gates
    figures = engine_zero.circuit_figures()
    assert figures["two_qubit_gates"] >= 4  # the CNOT ring, routed on the device
    assert figures["transpiled_depth"] == engine_one.circuit_figures()["transpiled_depth"]


@pytest.mark.parametrize("settings, message", [
    ({"noise_scale": 0.5}, "set backend.noise=fake:<FakeDevice> too"),
    ({"noise": "fake:FakeManilaV2", "noise_scale": -1.0}, "finite number >= 0"),
    ({"noise": "fake:FakeManilaV2", "noise_scale": float("nan")}, "finite number >= 0"),
])
def test_bad_scales_are_refused(settings, message):
    with pytest.raises(QhepError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AerBackend(**settings)


def test_bad_scale_is_one_line_on_the_command_line(tmp_path, capsys):
    code = main(["run", "backend=aer", "backend.noise_scale=2", f"results_dir={tmp_path}", "progress=false"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "backend.noise_scale=2.0" in err
    assert not any(tmp_path.iterdir())  # refused before a run folder exists
