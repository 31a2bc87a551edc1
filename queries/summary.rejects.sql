-- summary.rejects: rejected lines by kind, over every ingest run. A rejected line has no
-- trustworthy time (a bad time is one of the reasons), so rejects are not split by day.
SELECT kind, count(*) AS lines, count(DISTINCT file) AS files
FROM rejects
GROUP BY kind
ORDER BY lines DESC, kind
