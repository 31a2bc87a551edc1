-- milestones.orders: the CST second in which the day's paid orders first reached 1, 10 and
-- 100 times $order_unit (default 1,000,000). Null: not reached.
-- Parameters: $day (DATE), $order_unit (BIGINT).
WITH s AS (
    SELECT second_cst AS second, sum(events) AS orders
    FROM per_second
    WHERE cst_date = $day AND event_type = 'paid'
    GROUP BY 1
),
c AS (
    SELECT second, sum(orders) OVER (ORDER BY second ROWS UNBOUNDED PRECEDING) AS cum_orders
    FROM s
),
t AS (
    SELECT CAST($order_unit AS BIGINT) * f.m AS threshold_orders
    FROM (VALUES (CAST(1 AS BIGINT)), (10), (100)) AS f(m)
)
SELECT
    t.threshold_orders,
    min(c.second) AS reached_at_cst,
    min(c.cum_orders) AS cum_orders
FROM t
LEFT JOIN c ON c.cum_orders >= t.threshold_orders
GROUP BY t.threshold_orders
ORDER BY t.threshold_orders
