"""Method registry: every anomaly detector under one interface (see methods/base.py)."""
from __future__ import annotations

from qhep.methods.autoencoder import Autoencoder, AutoencoderConfig
from qhep.methods.chain import Chain, ChainConfig
from qhep.methods.classifier import METHOD as CLASSIFIER
from qhep.methods.conv_autoencoder import METHODS as JET_AUTOENCODERS
from qhep.methods.flow import METHOD as FLOW
from qhep.methods.pyod_methods import BASELINES as PYOD_BASELINES
from qhep.methods.qae import QAEConfig, QuantumAutoencoder
from qhep.methods.quantum_kernels import METHODS as QUANTUM_KERNELS
from qhep.methods.sklearn_methods import BASELINES as SKLEARN_BASELINES
from qhep.methods.vae import METHOD as VAE

# name -> (estimator class, config dataclass)
METHODS = {
    "ae": (Autoencoder, AutoencoderConfig),
    "qae": (QuantumAutoencoder, QAEConfig),
    **QUANTUM_KERNELS,
    **PYOD_BASELINES,
    **SKLEARN_BASELINES,
    **FLOW,
    **VAE,
    **JET_AUTOENCODERS,
    **CLASSIFIER,
    "chain": (Chain, ChainConfig),
}
