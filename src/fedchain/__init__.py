"""fedchain: federated learning whose coordinator is a smart contract."""

__version__ = "0.1.0"
__all__ = ["__version__"]
