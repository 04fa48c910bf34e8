"""Deployment to Amazon EMR: `artifacts` (the wheel, built and uploaded with jobs/, conf/ and the
bootstrap action under an S3 prefix) and `emr` (the cluster request from conf/emr/, checked against
botocore's model of RunJobFlow; the pipeline's steps). Plain values and boto3 clients in; no config.
"""
