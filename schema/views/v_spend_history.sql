-- Every ad's observations as a time series: one row per observation (the first sighting, then
-- one per observed change of spend, impressions, audience, reach or delivery dates), with
-- the change of each bound since the ad's previous observation.
--
-- Columns:
--   observation_id: ad_observations.id
--   ad_id: adlib's ad id (ads.id)
--   source: platform
--   source_ad_id: the platform's ad id
--   advertiser_id: advertisers.id
--   advertiser_name: the advertiser's name as last reported
--   observed_at: when adlib observed the values (UTC)
--   run_id: collection_runs.id of the run that observed them
--   observation_number: 1 for the ad's first observation, then 2, 3, ...
--   currency: ISO 4217 currency of the spend range
--   spend_lower: spend lower bound
--   spend_upper: spend upper bound; NULL = open-ended
--   impressions_lower: impressions lower bound
--   impressions_upper: impressions upper bound; NULL = open-ended
--   audience_lower: estimated audience size lower bound
--   audience_upper: estimated audience size upper bound; NULL = open-ended
--   eu_total_reach: Meta EU total reach
--   spend_lower_change: spend_lower minus the previous observation's; NULL for the first
--   spend_upper_change: spend_upper minus the previous one's; NULL for the first or if open
--   impressions_lower_change: impressions_lower minus the previous observation's
--   impressions_upper_change: impressions_upper minus the previous one's; NULL if open
--   delivery_start: delivery start as observed (UTC)
--   delivery_stop: delivery stop as observed (UTC)
CREATE VIEW v_spend_history AS
SELECT
    o.id AS observation_id,
    o.ad_id,
    a.source,
    a.source_ad_id,
    a.advertiser_id,
    adv.name AS advertiser_name,
    o.observed_at,
    o.run_id,
    ROW_NUMBER() OVER w AS observation_number,
    o.currency,
    o.spend_lower,
    o.spend_upper,
    o.impressions_lower,
    o.impressions_upper,
    o.audience_lower,
    o.audience_upper,
    o.eu_total_reach,
    o.spend_lower - LAG(o.spend_lower) OVER w AS spend_lower_change,
    o.spend_upper - LAG(o.spend_upper) OVER w AS spend_upper_change,
    o.impressions_lower - LAG(o.impressions_lower) OVER w AS impressions_lower_change,
    o.impressions_upper - LAG(o.impressions_upper) OVER w AS impressions_upper_change,
    o.delivery_start,
    o.delivery_stop
FROM ad_observations o
JOIN ads a ON a.id = o.ad_id
LEFT JOIN advertisers adv ON adv.id = a.advertiser_id
WINDOW w AS (PARTITION BY o.ad_id ORDER BY o.observed_at, o.id);
