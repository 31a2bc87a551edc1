-- peak.top: the $top busiest seconds of the day by paid orders (ties: earlier first), so
-- row 1 is the peak. Parameters: $day (DATE), $top (BIGINT, default 10).
SELECT
    row_number() OVER (ORDER BY sum(events) DESC, second_cst ASC) AS rank,
    second_cst,
    sum(events) AS orders,
    sum(amount_cny) AS gmv_cny
FROM per_second
WHERE cst_date = $day AND event_type = 'paid'
GROUP BY 2
ORDER BY rank
LIMIT $top
