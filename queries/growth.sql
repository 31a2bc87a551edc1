-- growth: year-over-year GMV and orders of the whole day, $day against $compare.
-- growth = (this - base) / base, 6 decimals rounded half away from zero; null (with a note)
-- when the base day is empty. Parameters: $day, $compare (DATE).
WITH t AS (
    SELECT
        coalesce(sum(events) FILTER (WHERE cst_date = $day), 0) AS orders,
        coalesce(sum(amount_cny) FILTER (WHERE cst_date = $day), CAST(0 AS DECIMAL(28, 2))) AS gmv_cny,
        coalesce(sum(events) FILTER (WHERE cst_date = $compare), 0) AS base_orders,
        coalesce(sum(amount_cny) FILTER (WHERE cst_date = $compare), CAST(0 AS DECIMAL(28, 2))) AS base_gmv_cny
    FROM per_second
    WHERE cst_date IN ($day, $compare) AND event_type = 'paid'
)
SELECT
    $day AS cst_date,
    $compare AS compare_date,
    orders,
    base_orders,
    round(CAST(orders - base_orders AS DECIMAL(30, 6)) / CAST(nullif(base_orders, 0) AS DECIMAL(28, 2)), 6) AS orders_growth,
    gmv_cny,
    base_gmv_cny,
    round(CAST(gmv_cny - base_gmv_cny AS DECIMAL(30, 6)) / CAST(nullif(base_gmv_cny, 0) AS DECIMAL(28, 2)), 6) AS gmv_growth,
    CASE WHEN base_orders = 0 THEN 'no paid orders on ' || CAST($compare AS VARCHAR) || ': growth undefined' END AS note
FROM t
