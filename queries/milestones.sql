-- milestones: the CST second in which the day's cumulative GMV first reached 1, 10 and 100
-- times $gmv_unit yuan (default 1,000,000,000: 1, 10 and 100 billion). Null: not reached.
-- Parameters: $day (DATE), $gmv_unit (DECIMAL yuan).
WITH s AS (
    SELECT second_cst AS second, sum(amount_cny) AS gmv_cny
    FROM per_second
    WHERE cst_date = $day AND event_type = 'paid'
    GROUP BY 1
),
c AS (
    SELECT second, sum(gmv_cny) OVER (ORDER BY second ROWS UNBOUNDED PRECEDING) AS cum_gmv_cny
    FROM s
),
t AS (
    SELECT CAST(CAST($gmv_unit AS DECIMAL(20, 2)) * CAST(f.m AS DECIMAL(4, 0)) AS DECIMAL(24, 2)) AS threshold_cny
    FROM (VALUES (1), (10), (100)) AS f(m)
)
SELECT
    t.threshold_cny,
    min(c.second) AS reached_at_cst,
    min(c.cum_gmv_cny) AS cum_gmv_cny
FROM t
LEFT JOIN c ON c.cum_gmv_cny >= t.threshold_cny
GROUP BY t.threshold_cny
ORDER BY t.threshold_cny
