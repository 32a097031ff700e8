"""The event table: what happened to an object, in order per object."""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, IdStr, JsonDict, TenantScoped, Timestamp


class Event(TenantScoped, Base):
    """Something that happened to an object, in order per object (`sequence`), listable by id cursor."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("tenant_id", "object_id", "sequence"),)

    id: Mapped[IdStr] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[str] = mapped_column(String(40))
    #: 1, 2, 3 … per object: a consumer applies events of one object in this order.
    sequence: Mapped[int] = mapped_column(Integer)
    #: Test-mode and live-mode events are listed apart, like their objects.
    livemode: Mapped[bool] = mapped_column(Boolean)
    #: The object as the API shows it, at the time of the event.
    data: Mapped[JsonDict]
    created_at: Mapped[Timestamp]
