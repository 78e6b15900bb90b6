"""The reference receiver a municipality runs: verify each release and keep it with its receipt."""

from broker.receiver.server import make_receiver_server
from broker.receiver.service import Receiver, Reply

__all__ = ["Receiver", "Reply", "make_receiver_server"]
