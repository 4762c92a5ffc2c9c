"""Uploads a folder to s3://BUCKET/PREFIX with PUTs (benches/s3.sh).

    upload.py DIR BUCKET PREFIX

The endpoint and credentials come from the AWS_* environment variables.
"""
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

src, bucket, prefix = sys.argv[1:]
s3 = boto3.client(
    "s3",
    endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
    config=Config(s3={"addressing_style": "path"}),
)
files = [os.path.join(d, f) for d, _, names in os.walk(src) for f in names]


def put(path):
    with open(path, "rb") as body:
        key = f"{prefix}/{os.path.relpath(path, src)}"
        s3.put_object(Bucket=bucket, Key=key, Body=body)


with ThreadPoolExecutor(4) as pool:
    list(pool.map(put, files))
