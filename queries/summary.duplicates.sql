-- summary.duplicates: re-delivered lines of events on the day, by input file. The first
-- delivery of each event_id was kept; these lines were not counted again.
SELECT file, count(*) AS duplicate_lines
FROM duplicates
WHERE cst_date = $day
GROUP BY file
ORDER BY file
