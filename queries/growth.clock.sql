-- growth.clock: the same-clock-time comparison, minute by minute: "by 00:30 CST, $day was
-- N % ahead of $compare at 00:30". `by_cst` is the end of the minute; the cumulative figures
-- count everything paid before it. Parameters: $day, $compare (DATE).
WITH m AS (
    SELECT
        date_part('hour', second_cst) * 60 + date_part('minute', second_cst) AS minute,
        coalesce(sum(events) FILTER (WHERE cst_date = $day), 0) AS orders,
        coalesce(sum(events) FILTER (WHERE cst_date = $compare), 0) AS base_orders,
        coalesce(sum(amount_cny) FILTER (WHERE cst_date = $day), CAST(0 AS DECIMAL(28, 2))) AS gmv_cny,
        coalesce(sum(amount_cny) FILTER (WHERE cst_date = $compare), CAST(0 AS DECIMAL(28, 2))) AS base_gmv_cny
    FROM per_second
    WHERE cst_date IN ($day, $compare) AND event_type = 'paid'
    GROUP BY 1
),
c AS (
    SELECT
        g.value AS minute,
        sum(coalesce(m.orders, 0)) OVER w AS cum_orders,
        sum(coalesce(m.base_orders, 0)) OVER w AS base_cum_orders,
        sum(coalesce(m.gmv_cny, CAST(0 AS DECIMAL(28, 2)))) OVER w AS cum_gmv_cny,
        sum(coalesce(m.base_gmv_cny, CAST(0 AS DECIMAL(28, 2)))) OVER w AS base_cum_gmv_cny
    FROM generate_series(0, 1439) AS g
    LEFT JOIN m ON m.minute = g.value
    WINDOW w AS (ORDER BY g.value ROWS UNBOUNDED PRECEDING)
)
SELECT
    lpad(CAST((minute + 1) / 60 AS VARCHAR), 2, '0') || ':' || lpad(CAST((minute + 1) % 60 AS VARCHAR), 2, '0') AS by_cst,
    cum_orders,
    base_cum_orders,
    round(CAST(cum_orders - base_cum_orders AS DECIMAL(30, 6)) / CAST(nullif(base_cum_orders, 0) AS DECIMAL(28, 2)), 6) AS orders_growth,
    cum_gmv_cny,
    base_cum_gmv_cny,
    round(CAST(cum_gmv_cny - base_cum_gmv_cny AS DECIMAL(30, 6)) / CAST(nullif(base_cum_gmv_cny, 0) AS DECIMAL(28, 2)), 6) AS gmv_growth
FROM c
ORDER BY minute
