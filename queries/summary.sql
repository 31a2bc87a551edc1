-- summary: the day's headline figures (contract definitions, money exact to the fen).
-- Orders, GMV and refunds come from the per-second sums; distinct buyers and sellers need
-- the transactions themselves. Parameters: $day (DATE).
WITH totals AS (
    SELECT
        coalesce(sum(events) FILTER (WHERE event_type = 'paid'), 0) AS orders,
        coalesce(sum(amount_cny) FILTER (WHERE event_type = 'paid'), CAST(0 AS DECIMAL(28, 2))) AS gmv_cny,
        coalesce(sum(events) FILTER (WHERE event_type = 'refunded'), 0) AS refund_events,
        coalesce(sum(amount_cny) FILTER (WHERE event_type = 'refunded'), CAST(0 AS DECIMAL(28, 2))) AS refunds_cny
    FROM per_second
    WHERE cst_date = $day
),
people AS (
    SELECT count(DISTINCT buyer_id) AS buyers, count(DISTINCT seller_id) AS sellers
    FROM transactions
    WHERE cst_date = $day AND event_type = 'paid'
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
FROM totals CROSS JOIN people
