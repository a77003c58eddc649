-- Every targeting criterion of every ad with its kind in one vocabulary shared by all
-- platforms (docs/practices.md): age, gender, language, geo_country, geo_region, geo_metro
-- (metro area or city), geo_electoral_district, geo_postal_code, geo_radius (geo-fencing),
-- geo_location_category, geo_unspecified (a named place of unknown level), interest,
-- custom_audience (advertiser lists and lookalikes), third_party_segment (data-broker
-- segments), device, connectivity (connection type, carrier), other. The kind comes from the
-- dimension the collector stored; a `geo` item ("postal code,region,country" from most to
-- least precise) gets its level from its shape: a leading digit is a postal code, a name
-- with ", " inside is a metro area, three parts are a city, two a region, one a country.
-- An exclusion uses its kind as much as an inclusion does.
--
-- Columns:
--   ad_id: adlib's ad id (ads.id)
--   source: platform
--   dimension: the dimension as the collector stored it (ad_targeting.dimension)
--   value: the criterion as the platform states it
--   included: 1 if the criterion includes people, 0 if it excludes them
--   kind: the shared targeting kind
CREATE VIEW v_ad_targeting_kinds AS
SELECT
    t.ad_id,
    a.source,
    t.dimension,
    t.value,
    CASE WHEN t.included THEN 1 ELSE 0 END AS included,
    CASE
        WHEN t.dimension IN ('age', 'gender', 'language', 'interest') THEN t.dimension
        WHEN t.dimension = 'country' THEN 'geo_country'
        WHEN t.dimension = 'region' THEN 'geo_region'
        WHEN t.dimension IN ('metro', 'city') THEN 'geo_metro'
        WHEN t.dimension = 'electoral_district' THEN 'geo_electoral_district'
        WHEN t.dimension = 'postal_code' THEN 'geo_postal_code'
        WHEN t.dimension = 'radius' THEN 'geo_radius'
        WHEN t.dimension = 'location_category' THEN 'geo_location_category'
        WHEN t.dimension = 'location' THEN 'geo_unspecified'
        WHEN t.dimension = 'geo' THEN
            CASE
                WHEN SUBSTR(t.value, 1, 1) BETWEEN '0' AND '9' THEN 'geo_postal_code'
                WHEN LENGTH(t.value) > LENGTH(REPLACE(t.value, ', ', '')) THEN 'geo_metro'
                WHEN LENGTH(t.value) - LENGTH(REPLACE(t.value, ',', '')) >= 2 THEN 'geo_metro'
                WHEN LENGTH(t.value) - LENGTH(REPLACE(t.value, ',', '')) = 1 THEN 'geo_region'
                ELSE 'geo_country'
            END
        WHEN t.dimension = 'segment' THEN 'custom_audience'
        WHEN t.dimension = 'advanced_demographic' THEN 'third_party_segment'
        WHEN t.dimension = 'os' THEN 'device'
        WHEN t.dimension IN ('connection_type', 'carrier') THEN 'connectivity'
        ELSE 'other'
    END AS kind
FROM ad_targeting t
JOIN ads a ON a.id = t.ad_id;
