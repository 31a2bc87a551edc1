-- summary.currency: the currency mix of the day's paid orders (amounts as logged, and in CNY).
-- Reads per_hour's 'currency' rows (their `amount` is the sum in that currency).
-- Parameters: $day (DATE).
SELECT
    value AS currency,
    sum(events) AS orders,
    sum(amount) AS amount,
    sum(amount_cny) AS gmv_cny,
    round(CAST(sum(amount_cny) AS DECIMAL(30, 6))
        / CAST(nullif(sum(sum(amount_cny)) OVER (), 0) AS DECIMAL(28, 2)), 6) AS gmv_share
FROM per_hour
WHERE cst_date = $day AND event_type = 'paid' AND dimension = 'currency'
GROUP BY value
ORDER BY gmv_cny DESC, currency
