-- peak.midnight: the first 10 minutes after midnight CST, second by second (600 rows, seconds
-- without orders as 0). Parameters: $day (DATE).
WITH s AS (
    SELECT
        date_part('minute', second_cst) * 60 + date_part('second', second_cst) AS sec,
        sum(events) AS orders,
        sum(amount_cny) AS gmv_cny
    FROM per_second
    WHERE cst_date = $day AND event_type = 'paid'
      AND date_part('hour', second_cst) = 0 AND date_part('minute', second_cst) < 10
    GROUP BY 1
)
SELECT
    '00:' || lpad(CAST(g.value / 60 AS VARCHAR), 2, '0') || ':' || lpad(CAST(g.value % 60 AS VARCHAR), 2, '0') AS second_cst,
    coalesce(s.orders, 0) AS orders,
    coalesce(s.gmv_cny, CAST(0 AS DECIMAL(28, 2))) AS gmv_cny
FROM generate_series(0, 599) AS g
LEFT JOIN s ON s.sec = g.value
ORDER BY g.value
