-- Share of each ad's delivery by age bucket and gender, one row per ad and cell, with the ad's
-- impressions range apportioned by that share.
--
-- Columns:
--   ad_id: adlib's ad id (ads.id)
--   source: platform
--   source_ad_id: the platform's ad id
--   advertiser_id: advertisers.id
--   advertiser_name: the advertiser's name as last reported
--   age_range: age bucket: 13-17, 18-24, ..., 65+, Unknown
--   gender: female, male or unknown
--   share: fraction 0..1 of the ad's delivery in the cell
--   impressions_lower_est: impressions_lower x share, the cell's part of the lower bound
--   impressions_upper_est: impressions_upper x share; NULL when the ad's upper bound is open
CREATE VIEW v_ad_demographics AS
SELECT
    d.ad_id,
    a.source,
    a.source_ad_id,
    a.advertiser_id,
    adv.name AS advertiser_name,
    d.age_range,
    d.gender,
    d.share,
    a.impressions_lower * d.share AS impressions_lower_est,
    a.impressions_upper * d.share AS impressions_upper_est
FROM ad_demographics d
JOIN ads a ON a.id = d.ad_id
LEFT JOIN advertisers adv ON adv.id = a.advertiser_id;
