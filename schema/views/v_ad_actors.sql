-- Every actor behind each ad, by role: one row per ad, role and resolved actor. The
-- principal actor of an ad (the one indicators and the report attribute it to) is its
-- advertiser-role actor, else its payer-role actor (Snap names no advertiser account: its
-- organisation is the agency that created the ad); `principal` marks it.
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
SELECT DISTINCT
    am.ad_id,
    m.source,
    m.role,
    m.actor_id,
    act.name AS actor_name,
    act.kind,
    CASE
        WHEN m.role = 'advertiser' THEN 1
        WHEN m.role = 'payer' AND NOT EXISTS (
            SELECT 1 FROM ad_actor_mentions am2
            JOIN actor_mentions m2 ON m2.id = am2.mention_id
            WHERE am2.ad_id = am.ad_id AND m2.role = 'advertiser' AND m2.actor_id IS NOT NULL
        ) THEN 1
        ELSE 0
    END AS principal
FROM ad_actor_mentions am
JOIN actor_mentions m ON m.id = am.mention_id
JOIN actors act ON act.id = m.actor_id;
