-- Each declared funder across the advertisers and platforms that ran its ads: one row per
-- funder, platform, advertiser and currency. Sums follow the honest-bound rule of
-- v_advertiser_spend_monthly (missing lower = 0, any open upper makes the sum NULL).
--
-- Columns:
--   funder_id: funders.id
--   funder_name: the declared payer, exactly as published
--   source: platform
--   advertiser_id: advertisers.id (NULL for ads without an advertiser)
--   advertiser_name: the advertiser's name as last reported
--   currency: ISO 4217 currency of the sums
--   ads: ads of this funder, platform, advertiser and currency
--   spend_lower: summed spend lower bounds
--   spend_upper: summed spend upper bounds; NULL if any ad's upper bound is open
--   first_delivery: earliest delivery start (UTC)
--   last_delivery: latest delivery stop, or last sighting for running ads (UTC)
--   first_seen_at: when adlib first saw one of these ads (UTC)
--   last_seen_at: when adlib last saw one of these ads (UTC)
CREATE VIEW v_funders AS
SELECT
    f.id AS funder_id,
    f.name AS funder_name,
    a.source,
    a.advertiser_id,
    adv.name AS advertiser_name,
    a.currency,
    COUNT(*) AS ads,
    CAST(SUM(COALESCE(a.spend_lower, 0)) AS BIGINT) AS spend_lower,
    CASE WHEN COUNT(a.spend_upper) = COUNT(*) THEN CAST(SUM(a.spend_upper) AS BIGINT) END
        AS spend_upper,
    MIN(a.delivery_start) AS first_delivery,
    MAX(COALESCE(a.delivery_stop, a.last_seen_at)) AS last_delivery,
    MIN(a.first_seen_at) AS first_seen_at,
    MAX(a.last_seen_at) AS last_seen_at
FROM funders f
JOIN ads a ON a.funder_id = f.id
LEFT JOIN advertisers adv ON adv.id = a.advertiser_id
GROUP BY f.id, f.name, a.source, a.advertiser_id, adv.name, a.currency;
