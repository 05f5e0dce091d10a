"""Gateway to Rucio for the QoS portal: every Rucio call goes through :class:`RucioGateway`."""

from qos.rucio_gateway.client import (
    AuthType,
    PermanentRucioError,
    RucioConnection,
    RucioError,
    RucioGateway,
    TransientRucioError,
)

__all__ = [
    "AuthType",
    "PermanentRucioError",
    "RucioConnection",
    "RucioError",
    "RucioGateway",
    "TransientRucioError",
]
