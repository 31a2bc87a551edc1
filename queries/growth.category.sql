-- growth.category: year-over-year GMV and orders by category (a category present on one day only
-- shows 0 on the other; growth is null where the base is 0). Reads per_hour's 'category' rows.
-- Parameters: $day, $compare (DATE).
SELECT
    value AS category,
    coalesce(sum(events) FILTER (WHERE cst_date = $day), 0) AS orders,
    coalesce(sum(events) FILTER (WHERE cst_date = $compare), 0) AS base_orders,
    round(CAST(coalesce(sum(events) FILTER (WHERE cst_date = $day), 0) - coalesce(sum(events) FILTER (WHERE cst_date = $compare), 0) AS DECIMAL(30, 6))
        / CAST(nullif(coalesce(sum(events) FILTER (WHERE cst_date = $compare), 0), 0) AS DECIMAL(28, 2)), 6) AS orders_growth,
    coalesce(sum(amount_cny) FILTER (WHERE cst_date = $day), CAST(0 AS DECIMAL(28, 2))) AS gmv_cny,
    coalesce(sum(amount_cny) FILTER (WHERE cst_date = $compare), CAST(0 AS DECIMAL(28, 2))) AS base_gmv_cny,
    round(CAST(coalesce(sum(amount_cny) FILTER (WHERE cst_date = $day), CAST(0 AS DECIMAL(28, 2)))
             - coalesce(sum(amount_cny) FILTER (WHERE cst_date = $compare), CAST(0 AS DECIMAL(28, 2))) AS DECIMAL(30, 6))
        / CAST(nullif(sum(amount_cny) FILTER (WHERE cst_date = $compare), 0) AS DECIMAL(28, 2)), 6) AS gmv_growth
FROM per_hour
WHERE cst_date IN ($day, $compare) AND event_type = 'paid' AND dimension = 'category'
GROUP BY value
ORDER BY gmv_cny DESC, category NULLS LAST
