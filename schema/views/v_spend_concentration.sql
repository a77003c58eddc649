-- Spend concentration per country, platform, calendar month and currency: the share of the
-- month's spend that went to the 10 biggest spenders, by advertiser and by actor (principal
-- actor of v_ad_actors; empty until actors are resolved). Computed on the lower bounds and on
-- the upper bounds separately (each ranked by its own bound), never on a midpoint. Monthly
-- parts and the multi-country rule come from v_ad_spend_monthly and
-- v_advertiser_spend_monthly: a lower bound counts only ads that reached no other country.
--
-- Columns:
--   unit: advertiser or actor
--   source: platform
--   country_code: ISO alpha-2 country
--   month: calendar month, YYYY-MM
--   currency: ISO 4217 currency
--   spenders: advertisers (or actors) with spend in the month
--   spend_lower: summed lower bounds
--   spend_upper: summed upper bounds; NULL if any is open
--   top10_spend_lower: summed lower bounds of the 10 biggest by lower bound
--   top10_share_lower: top10_spend_lower / spend_lower
--   top10_share_upper: the same on upper bounds; NULL if any upper bound is open
CREATE VIEW v_spend_concentration AS
WITH spenders AS (
    SELECT
        'advertiser' AS unit, source, country_code, month, currency,
        advertiser_id AS spender_id, spend_lower, spend_upper
    FROM v_advertiser_spend_monthly
    UNION ALL
    SELECT
        'actor' AS unit, a.source, c.country_code, m.month, m.currency, p.actor_id,
        SUM(CASE WHEN n.countries = 1 THEN COALESCE(m.spend_lower, 0.0) ELSE 0.0 END),
        CASE WHEN COUNT(m.spend_upper) = COUNT(*) THEN SUM(m.spend_upper) END
    FROM v_ad_spend_monthly m
    JOIN ads a ON a.id = m.ad_id
    JOIN v_ad_actors p ON p.ad_id = m.ad_id AND p.principal = 1
    JOIN ad_countries c ON c.ad_id = m.ad_id
    JOIN (
        SELECT ad_id, COUNT(*) AS countries FROM ad_countries GROUP BY ad_id
    ) n ON n.ad_id = m.ad_id
    GROUP BY a.source, c.country_code, m.month, m.currency, p.actor_id
),
ranked AS (
    SELECT
        s.*,
        ROW_NUMBER() OVER (
            PARTITION BY unit, source, country_code, month, currency
            ORDER BY spend_lower DESC, spender_id
        ) AS rank_lower,
        ROW_NUMBER() OVER (
            PARTITION BY unit, source, country_code, month, currency
            ORDER BY spend_upper DESC, spender_id
        ) AS rank_upper
    FROM spenders s
)
SELECT
    unit,
    source,
    country_code,
    month,
    currency,
    COUNT(*) AS spenders,
    SUM(spend_lower) AS spend_lower,
    CASE WHEN COUNT(spend_upper) = COUNT(*) THEN SUM(spend_upper) END AS spend_upper,
    SUM(CASE WHEN rank_lower <= 10 THEN spend_lower ELSE 0 END) AS top10_spend_lower,
    @as_float(SUM(CASE WHEN rank_lower <= 10 THEN spend_lower ELSE 0 END))
        / NULLIF(SUM(spend_lower), 0)
        AS top10_share_lower,
    CASE WHEN COUNT(spend_upper) = COUNT(*) THEN
        @as_float(SUM(CASE WHEN rank_upper <= 10 THEN spend_upper ELSE 0 END))
            / NULLIF(SUM(spend_upper), 0)
    END AS top10_share_upper
FROM ranked
GROUP BY unit, source, country_code, month, currency;
