#!/usr/bin/env python3
"""An S3 server on loopback for the tests: PyPI's moto (5.2.5 or later) with signature checking
on. The first three requests are let through unsigned (INITIAL_NO_AUTH_ACTION_COUNT) to make an
IAM user with a policy allowing S3 and an access key for it; every request after that must be
signed with that key, so a wrong secret gets 403. Makes the bucket named by the first argument,
prints one JSON line {"port", "access", "secret"}, then serves until killed or until the process
that started it is gone."""
import json, os, socket, sys, time

# Gone with the test process that started it, however that ends: its parent is watched below.
# (Not PR_SET_PDEATHSIG: that fires when the parent's *thread* that started it ends, and the
# test process's threads come and go.)
parent = os.getppid()

os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
import boto3
from moto.server import ThreadedMotoServer

bucket = sys.argv[1] if len(sys.argv) > 1 else "cairn-test"
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
server.start()
endpoint = f"http://127.0.0.1:{port}"
setup = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
iam = boto3.client("iam", **setup)
iam.create_user(UserName="cairn")
iam.put_user_policy(
    UserName="cairn", PolicyName="s3",
    PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
)
key = iam.create_access_key(UserName="cairn")["AccessKey"]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
s3.create_bucket(Bucket=bucket)
print(json.dumps({"port": port, "access": key["AccessKeyId"], "secret": key["SecretAccessKey"]}), flush=True)
while os.getppid() == parent:
    time.sleep(1)
os._exit(0)
