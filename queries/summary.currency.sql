-- summary.currency: the currency mix of the day's paid orders (amounts as logged, and in CNY).
-- Parameters: $day (DATE).
SELECT
    currency,
    count(*) AS orders,
    sum(amount) AS amount,
    sum(amount_cny) AS gmv_cny,
    round(CAST(sum(amount_cny) AS DECIMAL(30, 6))
        / CAST(nullif(sum(sum(amount_cny)) OVER (), 0) AS DECIMAL(28, 2)), 6) AS gmv_share
FROM transactions
WHERE cst_date = $day AND event_type = 'paid'
GROUP BY currency
ORDER BY gmv_cny DESC, currency
