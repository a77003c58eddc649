-- Delivery skew per advertiser and breakdown: the per-ad measures of v_delivery_skew averaged
-- over the advertiser's ads, weighted by impressions. Impressions are ranges, so the average
-- is given twice, weighted by the lower and by the upper bounds (NULL when an upper bound is
-- open), never by a midpoint.
--
-- Columns:
--   source: platform
--   advertiser_id: advertisers.id
--   advertiser_name: the advertiser's name as last reported
--   breakdown: demographic or region
--   ads: ads of the advertiser with this breakdown
--   largest_share_by_lower: mean largest-cell share, weighted by impressions lower bounds
--   largest_share_by_upper: same, weighted by impressions upper bounds
--   entropy_by_lower: mean normalised entropy, weighted by impressions lower bounds
--   entropy_by_upper: same, weighted by impressions upper bounds
CREATE VIEW v_advertiser_delivery_skew AS
SELECT
    a.source,
    a.advertiser_id,
    adv.name AS advertiser_name,
    k.breakdown,
    COUNT(*) AS ads,
    SUM(k.largest_share * a.impressions_lower) / NULLIF(SUM(a.impressions_lower), 0)
        AS largest_share_by_lower,
    CASE WHEN COUNT(a.impressions_upper) = COUNT(*) THEN
        SUM(k.largest_share * a.impressions_upper) / NULLIF(SUM(a.impressions_upper), 0)
    END AS largest_share_by_upper,
    SUM(k.entropy * a.impressions_lower)
        / NULLIF(SUM(CASE WHEN k.entropy IS NOT NULL THEN a.impressions_lower END), 0)
        AS entropy_by_lower,
    CASE WHEN COUNT(a.impressions_upper) = COUNT(*) THEN
        SUM(k.entropy * a.impressions_upper)
            / NULLIF(SUM(CASE WHEN k.entropy IS NOT NULL THEN a.impressions_upper END), 0)
    END AS entropy_by_upper
FROM v_delivery_skew k
JOIN ads a ON a.id = k.ad_id
LEFT JOIN advertisers adv ON adv.id = a.advertiser_id
GROUP BY a.source, a.advertiser_id, adv.name, k.breakdown;
