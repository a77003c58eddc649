-- How concentrated each ad's delivery was, per breakdown the platform published for it
-- (demographic: age x gender cells of ad_demographics; region: ad_regions). Shares are
-- rescaled to sum to 1 over the reported cells. largest_share is the biggest cell's share;
-- entropy is Shannon's entropy of the shares divided by its maximum, ln(cells): 1 = spread
-- evenly over the reported cells, 0 = all in one. Cells a platform leaves out (below its
-- reporting floor) are unknown, so both describe the reported cells only.
--
-- Columns:
--   ad_id: adlib's ad id (ads.id)
--   breakdown: demographic or region
--   cells: reported cells with a share above 0
--   largest_share: share of the largest cell, 0..1
--   entropy: normalised Shannon entropy 0..1; NULL for a single cell
CREATE VIEW v_delivery_skew AS
SELECT
    s.ad_id,
    s.breakdown,
    COUNT(*) AS cells,
    MAX(s.share) / MAX(s.total) AS largest_share,
    CASE
        WHEN COUNT(*) > 1
        THEN -SUM((s.share / s.total) * LN(s.share / s.total)) / LN(COUNT(*))
    END AS entropy
FROM (
    SELECT d.ad_id, 'demographic' AS breakdown, d.share, t.total
    FROM ad_demographics d
    JOIN (
        SELECT ad_id, SUM(share) AS total FROM ad_demographics WHERE share > 0 GROUP BY ad_id
    ) t ON t.ad_id = d.ad_id
    WHERE d.share > 0
    UNION ALL
    SELECT r.ad_id, 'region' AS breakdown, r.share, t.total
    FROM ad_regions r
    JOIN (
        SELECT ad_id, SUM(share) AS total FROM ad_regions WHERE share > 0 GROUP BY ad_id
    ) t ON t.ad_id = r.ad_id
    WHERE r.share > 0
) s
GROUP BY s.ad_id, s.breakdown;
