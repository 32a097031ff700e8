"""Events: the model, its types, `emit`, per-object sequence numbers and the subscribers fed by the outbox.

from core import events
data = serialize.payment(payment)
events.emit(session, ctx, events.EventType.PAYMENT_SUCCEEDED, subject=payment, data=data)
"""

from core.events.service import EventSubject, emit, get
from core.events.types import EventType

__all__ = ["EventSubject", "EventType", "emit", "get"]
