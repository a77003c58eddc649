-- Targeting practices per advertiser (and its principal actor), country, calendar month of
-- delivery start and currency: for each shared targeting kind, the share of the group's ads
-- that used it and the bounds of the share of their spend. Spend is the ads' whole spend
-- (platforms do not split it by country). Shares of spend are bounds, never a midpoint:
-- the lowest share is the kind's lower bound against the other ads' upper bounds, the
-- highest its upper bound against the others' lower bounds; NULL where an open upper bound
-- leaves them unbounded. Ads without any criterion count in `ads` but use no kind.
--
-- Columns:
--   source: platform
--   advertiser_id: advertisers.id
--   advertiser_name: the advertiser's name as last reported
--   actor_id: actors.id of the principal actor (v_ad_actors); NULL when unresolved
--   country_code: ISO alpha-2 country the ads reached
--   month: calendar month of delivery start, YYYY-MM
--   currency: ISO 4217 currency of the spend columns
--   kind: shared targeting kind (v_ad_targeting_kinds)
--   ads: ads of the group
--   ads_using: ads of the group that used the kind
--   share_ads: ads_using / ads
--   mean_kinds: mean number of kinds combined per ad of the group (0 for untargeted ads)
--   spend_lower: summed spend lower bounds of the group's ads
--   spend_upper: summed spend upper bounds of the group's ads; NULL if any is open
--   spend_using_lower: summed lower bounds of the ads that used the kind
--   spend_using_upper: summed upper bounds of those ads; NULL if any is open
--   share_spend_lower: lowest possible share of the group's spend on ads using the kind
--   share_spend_upper: highest possible share
CREATE VIEW v_targeting_monthly AS
WITH base AS (
    SELECT
        a.id AS ad_id,
        a.source,
        a.advertiser_id,
        p.actor_id,
        c.country_code,
        @month_label(@utc_date(COALESCE(a.delivery_start, a.ad_created_at, a.first_seen_at)))
            AS month,
        COALESCE(a.currency, '') AS currency,
        a.spend_lower,
        a.spend_upper,
        COALESCE(s.kinds, 0) AS kinds
    FROM ads a
    JOIN ad_countries c ON c.ad_id = a.id
    LEFT JOIN v_ad_actors p ON p.ad_id = a.id AND p.principal = 1
    LEFT JOIN v_ad_targeting_summary s ON s.ad_id = a.id
),
totals AS (
    SELECT
        source, advertiser_id, actor_id, country_code, month, currency,
        COUNT(*) AS ads,
        @as_float(SUM(kinds)) / COUNT(*) AS mean_kinds,
        SUM(COALESCE(spend_lower, 0)) AS spend_lower,
        CASE WHEN COUNT(spend_upper) = COUNT(*) THEN SUM(spend_upper) END AS spend_upper
    FROM base
    GROUP BY source, advertiser_id, actor_id, country_code, month, currency
),
used AS (
    SELECT
        b.source, b.advertiser_id, b.actor_id, b.country_code, b.month, b.currency, k.kind,
        COUNT(*) AS ads_using,
        SUM(COALESCE(b.spend_lower, 0)) AS spend_using_lower,
        CASE WHEN COUNT(b.spend_upper) = COUNT(*) THEN SUM(b.spend_upper) END
            AS spend_using_upper
    FROM base b
    JOIN (SELECT DISTINCT ad_id, kind FROM v_ad_targeting_kinds) k ON k.ad_id = b.ad_id
    GROUP BY b.source, b.advertiser_id, b.actor_id, b.country_code, b.month, b.currency, k.kind
)
SELECT
    u.source,
    u.advertiser_id,
    adv.name AS advertiser_name,
    u.actor_id,
    u.country_code,
    u.month,
    NULLIF(u.currency, '') AS currency,
    u.kind,
    t.ads,
    u.ads_using,
    @as_float(u.ads_using) / t.ads AS share_ads,
    t.mean_kinds,
    t.spend_lower,
    t.spend_upper,
    u.spend_using_lower,
    u.spend_using_upper,
    CASE
        WHEN t.spend_upper IS NULL OR u.spend_using_upper IS NULL THEN NULL
        WHEN u.spend_using_lower + t.spend_upper - u.spend_using_upper > 0
        THEN @as_float(u.spend_using_lower)
            / (u.spend_using_lower + t.spend_upper - u.spend_using_upper)
    END AS share_spend_lower,
    CASE
        WHEN u.spend_using_upper IS NULL THEN NULL
        WHEN u.spend_using_upper + t.spend_lower - u.spend_using_lower > 0
        THEN @as_float(u.spend_using_upper)
            / (u.spend_using_upper + t.spend_lower - u.spend_using_lower)
    END AS share_spend_upper
FROM used u
JOIN totals t
    ON t.source = u.source
    AND COALESCE(t.advertiser_id, -1) = COALESCE(u.advertiser_id, -1)
    AND COALESCE(t.actor_id, -1) = COALESCE(u.actor_id, -1)
    AND t.country_code = u.country_code
    AND t.month = u.month
    AND t.currency = u.currency
LEFT JOIN advertisers adv ON adv.id = u.advertiser_id;
