-- summary: the day's headline figures (contract definitions, money exact to the fen).
-- Parameters: $day (DATE).
SELECT
    $day AS cst_date,
    count(*) FILTER (WHERE event_type = 'paid') AS orders,
    coalesce(sum(amount_cny) FILTER (WHERE event_type = 'paid'), CAST(0 AS DECIMAL(28, 2))) AS gmv_cny,
    count(*) FILTER (WHERE event_type = 'refunded') AS refund_events,
    coalesce(sum(amount_cny) FILTER (WHERE event_type = 'refunded'), CAST(0 AS DECIMAL(28, 2))) AS refunds_cny,
    coalesce(sum(amount_cny) FILTER (WHERE event_type = 'paid'), CAST(0 AS DECIMAL(28, 2)))
        - coalesce(sum(amount_cny) FILTER (WHERE event_type = 'refunded'), CAST(0 AS DECIMAL(28, 2))) AS net_cny,
    count(DISTINCT buyer_id) FILTER (WHERE event_type = 'paid') AS buyers,
    count(DISTINCT seller_id) FILTER (WHERE event_type = 'paid') AS sellers,
    -- average order value, rounded to the fen half away from zero
    round(CAST(sum(amount_cny) FILTER (WHERE event_type = 'paid') AS DECIMAL(30, 6))
        / CAST(nullif(count(*) FILTER (WHERE event_type = 'paid'), 0) AS DECIMAL(28, 2)), 2) AS aov_cny
FROM transactions
WHERE cst_date = $day
