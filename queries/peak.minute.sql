-- peak.minute: per CST minute, paid orders and GMV, and the max, p50 and p99 of orders per
-- second over all 60 seconds of the minute (seconds without orders count as 0).
-- Percentiles are exact nearest-rank: p50 is the 30th and p99 the 60th smallest of the
-- 60 per-second counts. Parameters: $day (DATE).
WITH s AS (
    SELECT
        date_part('hour', second_cst) * 60 + date_part('minute', second_cst) AS bucket,
        second_cst AS second,
        sum(events) AS orders,
        sum(amount_cny) AS gmv_cny
    FROM per_second
    WHERE cst_date = $day AND event_type = 'paid'
    GROUP BY 1, 2
),
ranked AS (
    SELECT
        bucket, orders, gmv_cny,
        -- rank among all 60 seconds of the bucket, the silent ones ranking first
        row_number() OVER (PARTITION BY bucket ORDER BY orders) + (60 - count(*) OVER (PARTITION BY bucket)) AS r
    FROM s
),
b AS (
    SELECT
        bucket,
        sum(orders) AS orders,
        sum(gmv_cny) AS gmv_cny,
        max(orders) AS max_per_second,
        coalesce(max(CASE WHEN r = 30 THEN orders END), 0) AS p50_per_second,
        coalesce(max(CASE WHEN r = 60 THEN orders END), 0) AS p99_per_second,
        count(*) AS active_seconds
    FROM ranked
    GROUP BY bucket
)
SELECT
    lpad(CAST(g.value / 60 AS VARCHAR), 2, '0') || ':' || lpad(CAST(g.value % 60 AS VARCHAR), 2, '0') AS minute_cst,
    coalesce(b.orders, 0) AS orders,
    coalesce(b.gmv_cny, CAST(0 AS DECIMAL(28, 2))) AS gmv_cny,
    coalesce(b.max_per_second, 0) AS max_per_second,
    coalesce(b.p50_per_second, 0) AS p50_per_second,
    coalesce(b.p99_per_second, 0) AS p99_per_second,
    coalesce(b.active_seconds, 0) AS active_seconds
FROM generate_series(0, 1439) AS g
LEFT JOIN b ON b.bucket = g.value
ORDER BY g.value
