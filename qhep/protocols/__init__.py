"""Protocol registry: how a task's events become the training sample and the evaluation sample."""
from __future__ import annotations

from qhep.protocols.base import Protocol, ProtocolConfig
from qhep.protocols.supervised import SupervisedProtocol
from qhep.protocols.unsupervised import UnsupervisedProtocol

# name -> (protocol class, config dataclass)
PROTOCOLS: dict[str, tuple[type[Protocol], type[ProtocolConfig]]] = {
    "unsupervised": (UnsupervisedProtocol, UnsupervisedProtocol.Config),
    "supervised": (SupervisedProtocol, SupervisedProtocol.Config),
}


def make_protocol(settings: dict) -> Protocol:
    protocol, config = PROTOCOLS[settings["name"]]
    return protocol(config(**settings))
