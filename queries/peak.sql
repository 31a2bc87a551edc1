-- peak: the peak second of the day (CST, milliseconds truncated): the second with the most
-- paid orders, the earliest on a tie. Parameters: $day (DATE).
SELECT
    second_cst,
    sum(events) AS orders,
    sum(amount_cny) AS gmv_cny
FROM per_second
WHERE cst_date = $day AND event_type = 'paid'
GROUP BY 1
ORDER BY orders DESC, second_cst ASC
LIMIT 1
