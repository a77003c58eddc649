-- The targeting criteria each ad used, one row per criterion, with its advertiser.
--
-- Columns:
--   ad_id: adlib's ad id (ads.id)
--   source: platform
--   source_ad_id: the platform's ad id
--   advertiser_id: advertisers.id
--   advertiser_name: the advertiser's name as last reported
--   dimension: age, gender, location, geo, interest, language, ... (as the collector names it)
--   value: the criterion as the platform states it
--   included: 1 if the criterion includes people, 0 if it excludes them
CREATE VIEW v_ad_targeting AS
SELECT
    t.ad_id,
    a.source,
    a.source_ad_id,
    a.advertiser_id,
    adv.name AS advertiser_name,
    t.dimension,
    t.value,
    CASE WHEN t.included THEN 1 ELSE 0 END AS included
FROM ad_targeting t
JOIN ads a ON a.id = t.ad_id
LEFT JOIN advertisers adv ON adv.id = a.advertiser_id;
