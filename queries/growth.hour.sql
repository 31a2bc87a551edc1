-- growth.hour: year-over-year GMV and orders by CST hour (all 24 hours).
-- Parameters: $day, $compare (DATE).
WITH h AS (
    SELECT
        date_part('hour', second_cst) AS hour,
        coalesce(sum(events) FILTER (WHERE cst_date = $day), 0) AS orders,
        coalesce(sum(events) FILTER (WHERE cst_date = $compare), 0) AS base_orders,
        coalesce(sum(amount_cny) FILTER (WHERE cst_date = $day), CAST(0 AS DECIMAL(28, 2))) AS gmv_cny,
        coalesce(sum(amount_cny) FILTER (WHERE cst_date = $compare), CAST(0 AS DECIMAL(28, 2))) AS base_gmv_cny
    FROM per_second
    WHERE cst_date IN ($day, $compare) AND event_type = 'paid'
    GROUP BY 1
)
SELECT
    CAST(g.value AS INT) AS hour,
    coalesce(h.orders, 0) AS orders,
    coalesce(h.base_orders, 0) AS base_orders,
    round(CAST(coalesce(h.orders, 0) - coalesce(h.base_orders, 0) AS DECIMAL(30, 6))
        / CAST(nullif(coalesce(h.base_orders, 0), 0) AS DECIMAL(28, 2)), 6) AS orders_growth,
    coalesce(h.gmv_cny, CAST(0 AS DECIMAL(28, 2))) AS gmv_cny,
    coalesce(h.base_gmv_cny, CAST(0 AS DECIMAL(28, 2))) AS base_gmv_cny,
    round(CAST(coalesce(h.gmv_cny, CAST(0 AS DECIMAL(28, 2))) - coalesce(h.base_gmv_cny, CAST(0 AS DECIMAL(28, 2))) AS DECIMAL(30, 6))
        / CAST(nullif(coalesce(h.base_gmv_cny, CAST(0 AS DECIMAL(28, 2))), 0) AS DECIMAL(28, 2)), 6) AS gmv_growth
FROM generate_series(0, 23) AS g
LEFT JOIN h ON h.hour = g.value
ORDER BY hour
