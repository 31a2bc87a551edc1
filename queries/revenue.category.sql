-- revenue.category: GMV and orders of the day by category, with each one's share of the day.
-- A missing category is shown as null. Reads per_hour's 'category' rows, whose sums are the raw
-- count(*) and sum(amount_cny) of the day's transactions. Parameters: $day (DATE).
SELECT
    value AS category,
    sum(events) AS orders,
    sum(amount_cny) AS gmv_cny,
    round(CAST(sum(events) AS DECIMAL(30, 6))
        / CAST(nullif(sum(sum(events)) OVER (), 0) AS DECIMAL(28, 2)), 6) AS orders_share,
    round(CAST(sum(amount_cny) AS DECIMAL(30, 6))
        / CAST(nullif(sum(sum(amount_cny)) OVER (), 0) AS DECIMAL(28, 2)), 6) AS gmv_share
FROM per_hour
WHERE cst_date = $day AND event_type = 'paid' AND dimension = 'category'
GROUP BY value
ORDER BY gmv_cny DESC, category NULLS LAST
