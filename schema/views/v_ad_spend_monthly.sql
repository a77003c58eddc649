-- Each ad's ranges spread over the calendar months (UTC) it delivered in, in proportion to its
-- delivery days in each month: an ad that ran 20 days, 12 of them in January, puts 12/20 of
-- its lower and of its upper bound in January. Delivery runs from delivery_start (else
-- ad_created_at, else first_seen_at) to delivery_stop (else last_seen_at: a running ad's
-- reported spend covers its delivery until adlib last saw it), both days included.
--
-- Columns:
--   ad_id: adlib's ad id (ads.id)
--   month: calendar month, YYYY-MM
--   delivery_days_in_month: days of delivery in this month
--   delivery_days: days of delivery in total
--   currency: ISO 4217 currency of the spend range
--   spend_lower: the month's part of the spend lower bound
--   spend_upper: the month's part of the spend upper bound; NULL = open-ended
--   impressions_lower: the month's part of the impressions lower bound
--   impressions_upper: the month's part of the impressions upper bound; NULL = open-ended
CREATE VIEW v_ad_spend_monthly AS
WITH RECURSIVE spans (ad_id, first_day, last_day) AS (
    SELECT
        a.id,
        @utc_date(COALESCE(a.delivery_start, a.ad_created_at, a.first_seen_at)),
        @greatest(
            @utc_date(COALESCE(a.delivery_start, a.ad_created_at, a.first_seen_at)),
            @utc_date(COALESCE(a.delivery_stop, a.last_seen_at))
        )
    FROM ads a
),
months (ad_id, first_day, last_day, month_start) AS (
    SELECT ad_id, first_day, last_day, @month_start(first_day) FROM spans
    UNION ALL
    SELECT ad_id, first_day, last_day, @next_month(month_start)
    FROM months
    WHERE @next_month(month_start) <= last_day
),
shares AS (
    SELECT
        m.ad_id,
        m.month_start,
        @days_between(
            @greatest(m.first_day, m.month_start), @least(m.last_day, @month_end(m.month_start))
        ) + 1 AS delivery_days_in_month,
        @days_between(m.first_day, m.last_day) + 1 AS delivery_days
    FROM months m
)
SELECT
    s.ad_id,
    @month_label(s.month_start) AS month,
    s.delivery_days_in_month,
    s.delivery_days,
    a.currency,
    @as_float(a.spend_lower) * s.delivery_days_in_month / s.delivery_days AS spend_lower,
    @as_float(a.spend_upper) * s.delivery_days_in_month / s.delivery_days AS spend_upper,
    @as_float(a.impressions_lower) * s.delivery_days_in_month / s.delivery_days
        AS impressions_lower,
    @as_float(a.impressions_upper) * s.delivery_days_in_month / s.delivery_days
        AS impressions_upper
FROM shares s
JOIN ads a ON a.id = s.ad_id;
