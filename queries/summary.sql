-- summary: the day's headline figures (contract definitions, money exact to the fen).
-- Orders, GMV and refunds come from the per-second sums; distinct buyers and sellers need
-- the transactions themselves. Each distinct count is a GROUP BY of its own: DataFusion
-- spills a grouped aggregation to disk when it outgrows the query memory limit, where
-- `count(DISTINCT buyer_id), count(DISTINCT seller_id)` in one SELECT holds every id in
-- memory (about 2 GiB at 130 M orders; the seed day's 400 M buyers would not fit).
-- Parameters: $day (DATE).
WITH totals AS (
    SELECT
        coalesce(sum(events) FILTER (WHERE event_type = 'paid'), 0) AS orders,
        coalesce(sum(amount_cny) FILTER (WHERE event_type = 'paid'), CAST(0 AS DECIMAL(28, 2))) AS gmv_cny,
        coalesce(sum(events) FILTER (WHERE event_type = 'refunded'), 0) AS refund_events,
        coalesce(sum(amount_cny) FILTER (WHERE event_type = 'refunded'), CAST(0 AS DECIMAL(28, 2))) AS refunds_cny
    FROM per_second
    WHERE cst_date = $day
),
buyers AS (
    SELECT count(*) AS buyers
    FROM (SELECT buyer_id FROM transactions
          WHERE cst_date = $day AND event_type = 'paid' AND buyer_id IS NOT NULL
          GROUP BY buyer_id)
),
sellers AS (
    SELECT count(*) AS sellers
    FROM (SELECT seller_id FROM transactions
          WHERE cst_date = $day AND event_type = 'paid' AND seller_id IS NOT NULL
          GROUP BY seller_id)
)
SELECT
    $day AS cst_date,
    orders,
    gmv_cny,
    refund_events,
    refunds_cny,
    gmv_cny - refunds_cny AS net_cny,
    buyers,
    sellers,
    -- average order value, rounded to the fen half away from zero
    round(CAST(gmv_cny AS DECIMAL(30, 6)) / CAST(nullif(orders, 0) AS DECIMAL(28, 2)), 2) AS aov_cny
FROM totals CROSS JOIN buyers CROSS JOIN sellers
