-- Every actor behind each ad, by role: one row per ad, role and resolved actor. The
-- principal actor of an ad (the one indicators and the report attribute it to) is its
-- advertiser-role actor, else one payer-role actor (Snap names no advertiser account: its
-- organisation is the agency that created the ad); `principal` marks exactly one row per ad
-- that has such an actor. Among several payers the declared "paid for by" line wins over a
-- payer named with an account id (Snap's PayingAdvertiserName over its CommitteeName), then
-- the lowest actor id, so the choice is deterministic.
--
-- Columns:
--   ad_id: ads.id
--   source: platform
--   role: advertiser, payer, beneficiary or agency
--   actor_id: actors.id
--   actor_name: the actor's display name
--   kind: the actor's kind (party, agency, ...; NULL when unknown)
--   principal: 1 for the ad's principal actor, else 0
CREATE VIEW v_ad_actors AS
WITH roles AS (
    SELECT
        am.ad_id,
        m.source,
        m.role,
        m.actor_id,
        MIN(CASE WHEN m.source_entity_id = '' THEN 0 ELSE 1 END) AS with_account
    FROM ad_actor_mentions am
    JOIN actor_mentions m ON m.id = am.mention_id
    WHERE m.actor_id IS NOT NULL
    GROUP BY am.ad_id, m.source, m.role, m.actor_id
),
ranked AS (
    SELECT
        r.ad_id,
        r.source,
        r.role,
        r.actor_id,
        ROW_NUMBER() OVER (
            PARTITION BY r.ad_id
            ORDER BY
                CASE r.role WHEN 'advertiser' THEN 0 WHEN 'payer' THEN 1 ELSE 2 END,
                r.with_account,
                r.actor_id
        ) AS place
    FROM roles r
)
SELECT
    ranked.ad_id,
    ranked.source,
    ranked.role,
    ranked.actor_id,
    act.name AS actor_name,
    act.kind,
    CASE WHEN ranked.place = 1 AND ranked.role IN ('advertiser', 'payer') THEN 1 ELSE 0 END
        AS principal
FROM ranked
JOIN actors act ON act.id = ranked.actor_id;
