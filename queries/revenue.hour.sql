-- revenue.hour: GMV and orders by CST hour (all 24 hours, empty ones as 0), with shares.
-- Parameters: $day (DATE).
WITH paid AS (
    SELECT date_part('hour', second_cst) AS hour, sum(events) AS orders, sum(amount_cny) AS gmv_cny
    FROM per_second
    WHERE cst_date = $day AND event_type = 'paid'
    GROUP BY 1
)
SELECT
    CAST(h.value AS INT) AS hour,
    coalesce(p.orders, 0) AS orders,
    coalesce(p.gmv_cny, CAST(0 AS DECIMAL(28, 2))) AS gmv_cny,
    round(CAST(coalesce(p.orders, 0) AS DECIMAL(30, 6))
        / CAST(nullif(sum(p.orders) OVER (), 0) AS DECIMAL(28, 2)), 6) AS orders_share,
    round(CAST(coalesce(p.gmv_cny, CAST(0 AS DECIMAL(28, 2))) AS DECIMAL(30, 6))
        / CAST(nullif(sum(p.gmv_cny) OVER (), 0) AS DECIMAL(28, 2)), 6) AS gmv_share
FROM generate_series(0, 23) AS h
LEFT JOIN paid AS p ON p.hour = h.value
ORDER BY hour
