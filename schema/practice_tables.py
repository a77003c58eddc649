"""The practices layer's stored results: which ads form a message test.

Near-duplicate clustering is not expressible in portable SQL, so ``pipeline.evidence.practices``
computes it after each collection and stores the outcome here; the view ``v_message_tests``
reads it. The table is derived: a refresh rebuilds it from ``ads`` and ``ad_creatives`` in one
transaction, so it never holds half a refresh and can always be recomputed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from schema.models import Base, BigId


class MessageTestVariant(Base):
    __tablename__ = "message_test_variants"
    __table_args__ = (
        Index("ix_message_test_variants_cluster_id", "cluster_id"),
        {
            "comment": "Ads that belong to a message test: a cluster of two or more "
            "near-duplicate texts by one advertiser with overlapping delivery."
        },
    )

    ad_id: Mapped[int] = mapped_column(
        BigId,
        ForeignKey("ads.id", ondelete="CASCADE"),
        primary_key=True,
        comment="the ad (ads.id)",
    )
    cluster_id: Mapped[int] = mapped_column(
        BigId, comment="the cluster: the smallest ads.id among its variants (reproducible)"
    )
    advertiser_id: Mapped[int | None] = mapped_column(
        BigId, comment="advertisers.id of the advertiser whose ads were compared"
    )
    similarity: Mapped[float | None] = mapped_column(
        comment="highest similarity of a link of this ad's text into the cluster: shingle "
        "Jaccard, or its MinHash estimate where far from the threshold; 1.0 for an exact re-use"
    )
    refreshed_at: Mapped[datetime] = mapped_column(comment="when the refresh wrote the row (UTC)")
    method_version: Mapped[int] = mapped_column(
        Integer, comment="version of the clustering method and threshold (docs/practices.md)"
    )
