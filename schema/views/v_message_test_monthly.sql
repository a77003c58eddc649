-- Message testing per advertiser and calendar month (UTC) of the ads' delivery start: how many
-- of the advertiser's ads are variants in a message test (v_message_tests), in how many
-- clusters, and how large the largest is. Every ad of the advertiser counts in `ads`, also
-- ads without a text (they cannot be compared, so they lower the share).
--
-- Columns:
--   source: platform
--   advertiser_id: advertisers.id
--   advertiser_name: the advertiser's name as last reported
--   month: calendar month of delivery start, YYYY-MM
--   ads: ads of the advertiser that started in the month
--   ads_in_clusters: how many of them are variants of a message test
--   clusters: distinct message tests those variants belong to
--   largest_cluster: variants (in all months) of the largest of those clusters; NULL if none
--   share_in_clusters: ads_in_clusters / ads
CREATE VIEW v_message_test_monthly AS
SELECT
    a.source,
    a.advertiser_id,
    adv.name AS advertiser_name,
    @month_label(@utc_date(COALESCE(a.delivery_start, a.ad_created_at, a.first_seen_at)))
        AS month,
    COUNT(*) AS ads,
    COUNT(v.ad_id) AS ads_in_clusters,
    COUNT(DISTINCT v.cluster_id) AS clusters,
    MAX(s.variants) AS largest_cluster,
    @as_float(COUNT(v.ad_id)) / COUNT(*) AS share_in_clusters
FROM ads a
LEFT JOIN message_test_variants v ON v.ad_id = a.id
LEFT JOIN (
    SELECT cluster_id, COUNT(*) AS variants FROM message_test_variants GROUP BY cluster_id
) s ON s.cluster_id = v.cluster_id
LEFT JOIN advertisers adv ON adv.id = a.advertiser_id
WHERE a.advertiser_id IS NOT NULL
GROUP BY
    a.source, a.advertiser_id, adv.name,
    @month_label(@utc_date(COALESCE(a.delivery_start, a.ad_created_at, a.first_seen_at)));
