-- revenue.cumulative: the cumulative GMV curve minute by minute (1,440 rows). `by_cst` is the
-- end of the minute: the row "00:30" holds everything paid before 00:30:00 CST.
-- Parameters: $day (DATE).
WITH paid AS (
    SELECT date_part('hour', second_cst) * 60 + date_part('minute', second_cst) AS minute,
           sum(events) AS orders, sum(amount_cny) AS gmv_cny
    FROM per_second
    WHERE cst_date = $day AND event_type = 'paid'
    GROUP BY 1
)
SELECT
    lpad(CAST((m.value + 1) / 60 AS VARCHAR), 2, '0') || ':' || lpad(CAST((m.value + 1) % 60 AS VARCHAR), 2, '0') AS by_cst,
    coalesce(p.orders, 0) AS orders,
    coalesce(p.gmv_cny, CAST(0 AS DECIMAL(28, 2))) AS gmv_cny,
    sum(coalesce(p.orders, 0)) OVER (ORDER BY m.value ROWS UNBOUNDED PRECEDING) AS cum_orders,
    sum(coalesce(p.gmv_cny, CAST(0 AS DECIMAL(28, 2)))) OVER (ORDER BY m.value ROWS UNBOUNDED PRECEDING) AS cum_gmv_cny
FROM generate_series(0, 1439) AS m
LEFT JOIN paid AS p ON p.minute = m.value
ORDER BY m.value
