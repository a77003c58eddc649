-- Meta Ad Library Report rows (meta_report_spend, loaded by `adlib import`) with the Page
-- matched to the advertisers adlib collected ads of: one row per report row. The report's
-- amounts are Meta's own totals for the Page and disclaimer in the report's country and
-- period (spend_lower = spend_upper when exact; 0..100 for "≤100"); compare them with the
-- sum of the Page's ad ranges (docs/queries.md), never add the two.
--
-- Columns:
--   report_date: report day from the file name (Pacific time, as named)
--   country_code: country of the report, ISO alpha-2
--   period: last_day, last_7_days, last_30_days, last_90_days, lifelong; to_date or this_week
--     (2019 reports)
--   region: region of a per-region file; NULL for the country-wide advertisers file
--   page_id: Facebook Page id, as text; NULL in 2019 files
--   page_name: Page name as published in the report
--   disclaimer: "paid for by" text as published
--   currency: ISO 4217 currency the file or its README states; NULL if neither
--   spend_lower: amount spent, lower bound
--   spend_upper: amount spent, upper bound (= spend_lower when exact)
--   ads_in_library: number of ads in the Library; NULL in per-region files
--   advertiser_id: advertisers.id of the Page (source meta, same page id); NULL when adlib
--     holds no ad of it
--   file_sha256: sha256 of the imported file (raw_records.content_hash)
--   member: file name, or zip member, the row was read from
--   line: line of the row in that file
CREATE VIEW v_report_spend AS
SELECT
    r.report_date,
    r.country_code,
    r.period,
    r.region,
    r.page_id,
    r.page_name,
    r.disclaimer,
    r.currency,
    r.spend_lower,
    r.spend_upper,
    r.ads_in_library,
    adv.id AS advertiser_id,
    r.file_sha256,
    r.member,
    r.line
FROM meta_report_spend r
LEFT JOIN advertisers adv
    ON adv.source = 'meta' AND adv.source_advertiser_id = r.page_id;
