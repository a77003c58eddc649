-- Share of each ad's delivery by region (Meta's delivery_by_region), one row per ad and region,
-- with the ad's impressions range apportioned by that share.
--
-- Columns:
--   ad_id: adlib's ad id (ads.id)
--   source: platform
--   source_ad_id: the platform's ad id
--   advertiser_id: advertisers.id
--   advertiser_name: the advertiser's name as last reported
--   region: region name as the platform writes it
--   share: fraction 0..1 of the ad's delivery in the region
--   impressions_lower_est: impressions_lower x share, the region's part of the lower bound
--   impressions_upper_est: impressions_upper x share; NULL when the ad's upper bound is open
CREATE VIEW v_ad_regions AS
SELECT
    r.ad_id,
    a.source,
    a.source_ad_id,
    a.advertiser_id,
    adv.name AS advertiser_name,
    r.region,
    r.share,
    a.impressions_lower * r.share AS impressions_lower_est,
    a.impressions_upper * r.share AS impressions_upper_est
FROM ad_regions r
JOIN ads a ON a.id = r.ad_id
LEFT JOIN advertisers adv ON adv.id = a.advertiser_id;
