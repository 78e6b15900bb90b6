"""The reference receiver a municipality runs: verify each release and keep it with its receipt."""

from broker.receiver.server import MAX_BODY, make_receiver_server
from broker.receiver.service import Receiver, Reply

__all__ = ["MAX_BODY", "Receiver", "Reply", "make_receiver_server"]
