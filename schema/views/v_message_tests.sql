-- Message tests: clusters of two or more ads by one advertiser whose texts are near-duplicates
-- (character 5-gram Jaccard similarity ≥ 0.35, exact re-uses included) and whose delivery
-- windows overlap, as computed by the last refresh (table message_test_variants; method and
-- threshold in docs/practices.md). One row per cluster, country the ads reached and currency.
-- Spend is a range: the lower bound counts only the variants that reached no other country
-- (platforms do not split spend by country), the upper bound all variants; NULL when a
-- variant's upper bound is open.
--
-- Columns:
--   cluster_id: the cluster (the smallest ads.id among its variants)
--   source: platform
--   advertiser_source_id: the platform's advertiser id
--   advertiser_name: the advertiser's name as last reported
--   actor_id: actors.id of the cluster's principal actor (v_ad_actors), NULL when unresolved
--   country_code: ISO alpha-2 country the variants reached
--   variants: distinct ads of the cluster that reached the country
--   first_start: earliest delivery start of those variants
--   last_stop: latest delivery stop; NULL while a variant still runs or has no stop
--   spend_lower: summed lower bounds of the single-country variants
--   spend_upper: summed upper bounds of all variants; NULL if any is open
--   currency: ISO 4217 currency of the spend sums
--   example_body: the text of the cluster's first ad (cluster_id)
CREATE VIEW v_message_tests AS
SELECT
    v.cluster_id,
    a.source,
    adv.source_advertiser_id AS advertiser_source_id,
    adv.name AS advertiser_name,
    (
        SELECT MIN(p.actor_id) FROM v_ad_actors p
        WHERE p.ad_id = v.cluster_id AND p.principal = 1
    ) AS actor_id,
    c.country_code,
    COUNT(DISTINCT v.ad_id) AS variants,
    MIN(COALESCE(a.delivery_start, a.ad_created_at, a.first_seen_at)) AS first_start,
    CASE WHEN COUNT(a.delivery_stop) = COUNT(*) THEN MAX(a.delivery_stop) END AS last_stop,
    SUM(CASE WHEN n.countries = 1 THEN COALESCE(a.spend_lower, 0) ELSE 0 END) AS spend_lower,
    CASE WHEN COUNT(a.spend_upper) = COUNT(*) THEN SUM(a.spend_upper) END AS spend_upper,
    a.currency,
    (
        SELECT cr.body FROM ad_creatives cr
        WHERE cr.ad_id = v.cluster_id ORDER BY cr.position LIMIT 1
    ) AS example_body
FROM message_test_variants v
JOIN ads a ON a.id = v.ad_id
JOIN ad_countries c ON c.ad_id = v.ad_id
JOIN (
    SELECT ad_id, COUNT(*) AS countries FROM ad_countries GROUP BY ad_id
) n ON n.ad_id = v.ad_id
LEFT JOIN advertisers adv ON adv.id = v.advertiser_id
GROUP BY
    v.cluster_id, a.source, adv.source_advertiser_id, adv.name, c.country_code, a.currency;
