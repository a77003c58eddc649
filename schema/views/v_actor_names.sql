-- Every name each actor is published under: one row per actor and distinct mention (platform,
-- role, name exactly as published, country). Account ids are folded in: a Meta page renamed
-- twice shows as two names of one actor.
--
-- Columns:
--   actor_id: actors.id
--   actor_name: the actor's display name
--   kind: the actor's kind (party, agency, ...; NULL when unknown)
--   source: platform
--   role: advertiser, payer, beneficiary or agency (docs/actors.md)
--   name: the name exactly as the platform published it
--   country_code: ISO alpha-2 country of the ads that carry it ('' when unknown)
--   ads: ads that carry this name in this role and country
CREATE VIEW v_actor_names AS
SELECT
    m.actor_id,
    act.name AS actor_name,
    act.kind,
    m.source,
    m.role,
    m.name,
    m.country_code,
    SUM(m.ads) AS ads
FROM actor_mentions m
JOIN actors act ON act.id = m.actor_id
GROUP BY m.actor_id, act.name, act.kind, m.source, m.role, m.name, m.country_code;
