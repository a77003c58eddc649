-- Spend per actor, platform, country, calendar month and currency, from v_ad_spend_monthly
-- (each ad spread over its delivery days). An ad counts once for each actor behind it in any
-- role: an agency's row sums its clients' ads. The bounds follow v_advertiser_spend_monthly:
-- an ad that reached several countries adds to each country's upper bound but to no lower
-- bound; a missing lower bound counts as 0; an open upper bound makes the upper sum NULL.
--
-- Columns:
--   actor_id: actors.id
--   source: platform
--   country_code: ISO alpha-2 country the ads reached
--   month: calendar month, YYYY-MM
--   currency: ISO 4217 currency of the sums
--   spend_lower: summed lower bounds of the single-country ads' monthly parts
--   spend_upper: summed upper bounds of all the ads' monthly parts; NULL if any is open
--   ads: ads behind which the actor stands that reached the country in the month
CREATE VIEW v_actor_spend AS
WITH actor_ads AS (
    SELECT DISTINCT m.actor_id, am.ad_id
    FROM ad_actor_mentions am
    JOIN actor_mentions m ON m.id = am.mention_id
    WHERE m.actor_id IS NOT NULL
)
SELECT
    x.actor_id,
    a.source,
    c.country_code,
    s.month,
    s.currency,
    SUM(CASE WHEN n.countries = 1 THEN COALESCE(s.spend_lower, 0.0) ELSE 0.0 END) AS spend_lower,
    CASE WHEN COUNT(s.spend_upper) = COUNT(*) THEN SUM(s.spend_upper) END AS spend_upper,
    COUNT(*) AS ads
FROM actor_ads x
JOIN ads a ON a.id = x.ad_id
JOIN v_ad_spend_monthly s ON s.ad_id = x.ad_id
JOIN ad_countries c ON c.ad_id = x.ad_id
JOIN (
    SELECT ad_id, COUNT(*) AS countries FROM ad_countries GROUP BY ad_id
) n ON n.ad_id = x.ad_id
GROUP BY x.actor_id, a.source, c.country_code, s.month, s.currency;
