-- One row per ad with its advertiser, funder, countries and ranges joined: the table to start
-- from. Ranges are kept as the platform reports them (lower and upper bound, upper NULL for an
-- open-ended top bucket); the midpoints are a convenience estimate, never a reported value.
--
-- Columns:
--   ad_id: adlib's ad id (ads.id)
--   source: platform: meta, google, snap, ...
--   source_ad_id: the platform's ad id (Meta Library ID, Google CR..., Snap ADID)
--   ad_type: platform's ad type, where reported
--   library: library the ad came from: political, or all_ads (Meta's EU/UK library of ads of
--     any type, which publishes no spend or impressions: those columns stay NULL)
--   ad_url: public page of the ad in the platform's library
--   advertiser_id: advertisers.id of the account that ran the ad
--   source_advertiser_id: the platform's id of that account (Meta page_id, Google AR...)
--   advertiser_name: the account's name as last reported
--   funder_id: funders.id of the declared payer
--   funder_name: the declared payer ("paid for by"), exactly as published
--   countries: countries the ad reached, ISO alpha-2, sorted and comma-separated (KE,US)
--   ad_created_at: creation time (UTC)
--   delivery_start: delivery start (UTC)
--   delivery_stop: delivery stop (UTC); NULL while running or not reported
--   currency: ISO 4217 currency of the spend range
--   spend_lower: spend lower bound, in currency
--   spend_upper: spend upper bound, in currency; NULL = open-ended top bucket
--   spend_mid: midpoint estimate (spend_lower + spend_upper) / 2; NULL when the upper bound is
--     open or either bound is missing, because an open bucket has no honest midpoint. Sum
--     spend_lower and spend_upper for totals; use spend_mid only to rank or plot
--   spend_usd_lower: spend lower bound in USD, where the platform gives one (Google)
--   spend_usd_upper: spend upper bound in USD, where the platform gives one; NULL = open
--   impressions_lower: impressions lower bound
--   impressions_upper: impressions upper bound; NULL = open-ended top bucket
--   impressions_mid: midpoint estimate of impressions, same rule as spend_mid
--   audience_lower: estimated audience size lower bound (Meta)
--   audience_upper: estimated audience size upper bound; NULL = open-ended
--   body: text of the ad's first creative card (position 0), if any
--   first_seen_at: first collected by adlib (UTC)
--   last_seen_at: last collected by adlib (UTC)
--   delisted_at: when a complete listing (bulk file) no longer contained the ad; NULL if listed
--   delisted: 1 if delisted_at is set, else 0
CREATE VIEW v_ads AS
SELECT
    a.id AS ad_id,
    a.source,
    a.source_ad_id,
    a.ad_type,
    a.library,
    a.ad_url,
    a.advertiser_id,
    adv.source_advertiser_id,
    adv.name AS advertiser_name,
    a.funder_id,
    f.name AS funder_name,
    (
        SELECT @sorted_list(c.country_code)
        FROM ad_countries c
        WHERE c.ad_id = a.id
    ) AS countries,
    a.ad_created_at,
    a.delivery_start,
    a.delivery_stop,
    a.currency,
    a.spend_lower,
    a.spend_upper,
    @as_float(a.spend_lower + a.spend_upper) / 2 AS spend_mid,
    a.spend_usd_lower,
    a.spend_usd_upper,
    a.impressions_lower,
    a.impressions_upper,
    @as_float(a.impressions_lower + a.impressions_upper) / 2 AS impressions_mid,
    a.audience_lower,
    a.audience_upper,
    (
        SELECT cr.body
        FROM ad_creatives cr
        WHERE cr.ad_id = a.id AND cr.position = 0
    ) AS body,
    a.first_seen_at,
    a.last_seen_at,
    a.delisted_at,
    CASE WHEN a.delisted_at IS NULL THEN 0 ELSE 1 END AS delisted
FROM ads a
LEFT JOIN advertisers adv ON adv.id = a.advertiser_id
LEFT JOIN funders f ON f.id = a.funder_id;
