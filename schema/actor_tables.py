"""The actors layer: who is behind the ads, resolved across platforms, spellings and borders.

A *mention* is one name a platform publishes about who is behind an ad, in one role (the
advertiser account, the declared payer, the EU beneficiary, the agency that created the ad),
in one country, with any identifier the data carries. Mentions resolve to *actors*; the
link from ads to mentions is ``ad_actor_mentions``. Resolution (``pipeline.evidence.actors``)
is deterministic, curated decisions win over automatic ones, and an actor's id never changes
once given, so analysts can keep ids in their notes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from schema.models import Base, BigId
from schema.types import JSONType


class Actor(Base):
    __tablename__ = "actors"
    __table_args__ = (
        UniqueConstraint("key"),
        {"comment": "Resolved actors: parties, candidates, committees, agencies, companies, ..."},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, comment="adlib's actor id (stable)")
    key: Mapped[str] = mapped_column(
        String(255),
        comment="stable resolution key (normalised name of the curated or first mention); "
        "never reused, so an id survives re-resolution",
    )
    name: Mapped[str] = mapped_column(
        Text, comment="display name: the registry's name, else the most used published spelling"
    )
    kind: Mapped[str | None] = mapped_column(
        String(32),
        comment="party, candidate, committee, agency, consultancy, company, government, ngo, "
        "media or other; NULL when no one said (the data rarely does)",
    )
    curated: Mapped[bool] = mapped_column(
        default=False, comment="true when the curated registry names this actor"
    )
    merged_into: Mapped[int | None] = mapped_column(
        BigId,
        ForeignKey("actors.id"),
        comment="the actor this one was merged into by a later resolution; NULL while it "
        "stands on its own (its id then still leads to the survivor)",
    )
    first_seen_at: Mapped[datetime] = mapped_column(comment="when adlib created the actor (UTC)")
    updated_at: Mapped[datetime] = mapped_column(comment="last change by resolution (UTC)")


class ActorMention(Base):
    __tablename__ = "actor_mentions"
    __table_args__ = (
        UniqueConstraint("source", "role", "name", "country_code", "source_entity_id"),
        Index("ix_actor_mentions_actor_id", "actor_id"),
        Index("ix_actor_mentions_normalised_name", "normalised_name"),
        {"comment": "Every name a platform publishes about who is behind an ad, per role."},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, comment="mention id")
    source: Mapped[str] = mapped_column(String(32), comment="platform: meta, google, snap, ...")
    role: Mapped[str] = mapped_column(
        String(16), comment="advertiser, payer, beneficiary or agency (see docs/actors.md)"
    )
    name: Mapped[str] = mapped_column(Text, comment="the name exactly as published")
    country_code: Mapped[str] = mapped_column(
        String(2), comment="ISO alpha-2 of the ads that carry it; '' when none is known"
    )
    source_entity_id: Mapped[str] = mapped_column(
        String(255),
        comment="the platform's id of the named account (Meta page_id, Google AR...); '' if none",
    )
    identifiers: Mapped[list[str] | None] = mapped_column(
        JSONType,
        comment="strong identifiers found in the data, as 'SCHEME:value' (FEC:C00..., EIN:..., "
        "CNPJ:...)",
    )
    normalised_name: Mapped[str] = mapped_column(
        Text, comment="the name after normalisation (case, accents, legal forms, prefixes)"
    )
    actor_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("actors.id"), comment="actors.id it resolved to; NULL until resolved"
    )
    method: Mapped[str | None] = mapped_column(
        String(16), comment="how it resolved: curated, identifier, exact, fuzzy or new"
    )
    score: Mapped[float | None] = mapped_column(
        Float, comment="similarity 0..100 of a fuzzy match; NULL for the other methods"
    )
    ads: Mapped[int] = mapped_column(Integer, default=0, comment="ads that carry the mention")
    first_seen_at: Mapped[datetime] = mapped_column(comment="when adlib first saw it (UTC)")


class AdActorMention(Base):
    __tablename__ = "ad_actor_mentions"
    __table_args__ = (
        Index("ix_ad_actor_mentions_mention_id", "mention_id"),
        {"comment": "Which mentions each ad carries (one row per ad and mention)."},
    )

    ad_id: Mapped[int] = mapped_column(
        BigId,
        ForeignKey("ads.id", ondelete="CASCADE"),
        primary_key=True,
        comment="the ad (ads.id)",
    )
    mention_id: Mapped[int] = mapped_column(
        BigId,
        ForeignKey("actor_mentions.id", ondelete="CASCADE"),
        primary_key=True,
        comment="actor_mentions.id",
    )


class ActorLinkQueue(Base):
    __tablename__ = "actor_link_queue"
    __table_args__ = {
        "comment": "Ads whose actor links may be out of date: written since the actors step "
        "last read them (new or changed, seen in a new country, or their advertiser renamed). "
        "The step relinks only these ads and removes exactly the rows it read."
    }

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, comment="order of arrival")
    ad_id: Mapped[int] = mapped_column(
        BigId,
        comment="ads.id; no foreign key, so the loader pays no check (a deleted ad's links go "
        "with it by cascade)",
    )
