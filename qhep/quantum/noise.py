"""A device's noise, scaled: how much of a method's sensitivity survives s times the device's errors.

The noise model is Aer's own `NoiseModel.from_backend`, read from a copy of the device's Target in which every
error probability is multiplied by s (gate errors capped at the depolarising maximum dim/(dim+1), readout errors
at 1/2: a coin flip) and T1, T2 are divided by s (relaxation during a gate grows with s). s = 1 is the device's
model exactly; s = 0 is no noise. Circuits are still transpiled against the device's unscaled Target, so the
layout, routing and gates are the same at every scale and only the noise differs.
"""
from __future__ import annotations

import copy
import math

from qiskit.circuit import Measure
from qiskit.providers import BackendV2, Options, QubitProperties
from qiskit.transpiler import InstructionProperties, Target

from qhep.errors import QhepError

READOUT_ERROR_MAX = 0.5


def check_noise_scale(scale: float, noise: str | None) -> None:
    if not math.isfinite(scale) or scale < 0:
        raise QhepError(f"backend.noise_scale must be a finite number >= 0, got {scale}")
    if scale != 1 and not noise:
        raise QhepError(f"backend.noise_scale={scale} scales a device's noise: set backend.noise=fake:<FakeDevice> too")


def scaled_target(target: Target, scale: float) -> Target:
    """A copy of `target` with error probabilities times `scale` and T1, T2 divided by it (scale > 0)."""
    scaled = copy.deepcopy(target)
    for name in target.operation_names:
        readout = isinstance(target.operation_from_name(name), Measure)
        for qargs, props in (target[name] or {}).items():
            if props is None or qargs is None:
                continue
            new = InstructionProperties(duration=props.duration,
                                        error=_scaled(props.error, scale, qargs, readout))
            for attr in ("prob_meas1_prep0", "prob_meas0_prep1"):  # asymmetric readout, where a target has it
                if hasattr(props, attr):
                    setattr(new, attr, _scaled(getattr(props, attr), scale, qargs, True))
            scaled.update_instruction_properties(name, qargs, new)
    if target.qubit_properties:
        scaled.qubit_properties = [
            None if q is None else QubitProperties(t1=_stretched(q.t1, scale), t2=_stretched(q.t2, scale),
                                                   frequency=q.frequency)
            for q in target.qubit_properties]
    return scaled


def _scaled(error: float | None, scale: float, qargs: tuple, readout: bool) -> float | None:
    if error is None:
        return None
    dim = 2 ** len(qargs)
    return min(error * scale, READOUT_ERROR_MAX if readout else dim / (dim + 1))


def _stretched(time: float | None, scale: float) -> float | None:
    return None if time is None else time / scale


def scaled_noise_model(device, scale: float):
    """Aer's noise model of `device` with every error scaled by `scale`; None (noiseless) at scale 0."""
    from qiskit_aer.noise import NoiseModel

    if scale == 0:  # T1 = T2 = inf and zero error probabilities: the ideal channel, so no model at all
        return None
    return NoiseModel.from_backend(_DeviceView(device, scaled_target(device.target, scale)))


class _DeviceView(BackendV2):
    """`device` seen through another Target: what NoiseModel.from_backend reads (target, operations, dt)."""

    def __init__(self, device, target: Target):
        super().__init__(name=f"{device.name}-scaled")
        self._view_target = target

    @property
    def target(self) -> Target:
        return self._view_target

    @property
    def max_circuits(self):
        return None

    @classmethod
    def _default_options(cls) -> Options:
        return Options()

    def run(self, run_input, **options):
        raise TypeError("a noise-model view of a device runs nothing: it only carries the scaled Target")
