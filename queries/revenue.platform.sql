-- revenue.platform: GMV and orders of the day by platform, with each one's share of the day.
-- A missing platform is shown as null. Parameters: $day (DATE).
SELECT
    platform,
    sum(events) AS orders,
    sum(amount_cny) AS gmv_cny,
    round(CAST(sum(events) AS DECIMAL(30, 6))
        / CAST(nullif(sum(sum(events)) OVER (), 0) AS DECIMAL(28, 2)), 6) AS orders_share,
    round(CAST(sum(amount_cny) AS DECIMAL(30, 6))
        / CAST(nullif(sum(sum(amount_cny)) OVER (), 0) AS DECIMAL(28, 2)), 6) AS gmv_share
FROM per_second
WHERE cst_date = $day AND event_type = 'paid'
GROUP BY platform
ORDER BY gmv_cny DESC, platform NULLS LAST
