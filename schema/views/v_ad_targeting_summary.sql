-- Per ad with any targeting criterion: how many shared kinds it combines (the measure of
-- Votta et al. 2024, "Who Does(n't) Target You?"), which, and how many postal codes and
-- radius areas (geo-fencing) it names. Ads without any criterion have no row: they were
-- either not targeted or their platform does not publish targeting (docs/practices.md).
--
-- Columns:
--   ad_id: adlib's ad id (ads.id)
--   source: platform
--   kinds: distinct targeting kinds the ad uses (v_ad_targeting_kinds)
--   kind_list: those kinds, comma-separated
--   criteria: targeting rows of the ad, inclusions and exclusions
--   postal_codes: postal codes named (included or excluded)
--   radius_areas: radius areas named (included or excluded)
CREATE VIEW v_ad_targeting_summary AS
SELECT
    k.ad_id,
    k.source,
    COUNT(*) AS kinds,
    @sorted_list(k.kind) AS kind_list,
    SUM(k.n) AS criteria,
    SUM(CASE WHEN k.kind = 'geo_postal_code' THEN k.n ELSE 0 END) AS postal_codes,
    SUM(CASE WHEN k.kind = 'geo_radius' THEN k.n ELSE 0 END) AS radius_areas
FROM (
    SELECT ad_id, source, kind, COUNT(*) AS n
    FROM v_ad_targeting_kinds
    GROUP BY ad_id, source, kind
) k
GROUP BY k.ad_id, k.source;
