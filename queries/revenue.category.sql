-- revenue.category: GMV and orders of the day by category, with each one's share of the day.
-- A missing category is shown as null. Parameters: $day (DATE).
SELECT
    category,
    count(*) AS orders,
    sum(amount_cny) AS gmv_cny,
    round(CAST(count(*) AS DECIMAL(30, 6))
        / CAST(nullif(sum(count(*)) OVER (), 0) AS DECIMAL(28, 2)), 6) AS orders_share,
    round(CAST(sum(amount_cny) AS DECIMAL(30, 6))
        / CAST(nullif(sum(sum(amount_cny)) OVER (), 0) AS DECIMAL(28, 2)), 6) AS gmv_share
FROM transactions
WHERE cst_date = $day AND event_type = 'paid'
GROUP BY category
ORDER BY gmv_cny DESC, category NULLS LAST
