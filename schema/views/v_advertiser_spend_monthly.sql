-- Spend and impressions per advertiser, country, calendar month and currency, from
-- v_ad_spend_monthly (each ad spread over its delivery days). The sums are honest bounds:
--
-- * platforms do not report spend per country, so an ad that reached several countries adds
--   to each of those countries' upper bounds but to none of their lower bounds; lower bounds
--   can therefore be added up across countries, upper bounds only bound each country;
-- * a missing lower bound counts as 0; an open or missing upper bound makes the cell's upper
--   bound NULL (unbounded) instead of being silently left out of the sum.
--
-- Columns:
--   advertiser_id: advertisers.id (NULL for ads without an advertiser)
--   source: platform
--   advertiser_name: the advertiser's name as last reported
--   country_code: ISO alpha-2 country the ads reached
--   month: calendar month, YYYY-MM
--   currency: ISO 4217 currency of the sums
--   ads: ads of the advertiser that reached the country and delivered in the month
--   multi_country_ads: how many of them also reached other countries
--   spend_lower: summed lower bounds of the single-country ads' monthly parts
--   spend_upper: summed upper bounds of all the ads' monthly parts; NULL if any is open
--   impressions_lower: summed impressions lower bounds, same rule as spend_lower
--   impressions_upper: summed impressions upper bounds, same rule as spend_upper
CREATE VIEW v_advertiser_spend_monthly AS
SELECT
    a.advertiser_id,
    a.source,
    adv.name AS advertiser_name,
    c.country_code,
    m.month,
    m.currency,
    COUNT(*) AS ads,
    CAST(SUM(CASE WHEN n.countries > 1 THEN 1 ELSE 0 END) AS BIGINT) AS multi_country_ads,
    SUM(CASE WHEN n.countries = 1 THEN COALESCE(m.spend_lower, 0.0) ELSE 0.0 END) AS spend_lower,
    CASE WHEN COUNT(m.spend_upper) = COUNT(*) THEN SUM(m.spend_upper) END AS spend_upper,
    SUM(CASE WHEN n.countries = 1 THEN COALESCE(m.impressions_lower, 0.0) ELSE 0.0 END)
        AS impressions_lower,
    CASE WHEN COUNT(m.impressions_upper) = COUNT(*) THEN SUM(m.impressions_upper) END
        AS impressions_upper
FROM v_ad_spend_monthly m
JOIN ads a ON a.id = m.ad_id
JOIN ad_countries c ON c.ad_id = m.ad_id
JOIN (
    SELECT ad_id, COUNT(*) AS countries FROM ad_countries GROUP BY ad_id
) n ON n.ad_id = m.ad_id
LEFT JOIN advertisers adv ON adv.id = a.advertiser_id
GROUP BY a.advertiser_id, a.source, adv.name, c.country_code, m.month, m.currency;
