#!/bin/bash
# LocalStack init hook (READY stage): the same buckets as the embedded server (localstack/s3server.py):
#   source  us-east-1
#   dest    eu-west-1 (LocationConstraint, so GetBucketLocation answers eu-west-1)
# Runs inside the container, where `awslocal` is the AWS CLI pointed at LocalStack. Idempotent: init hooks
# run on every start, and with PERSISTENCE=1 the buckets may already exist.
set -euo pipefail

create() {
    local bucket=$1 region=$2
    if awslocal s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
        echo "shadowreplica: bucket $bucket exists"
        return
    fi
    if [ "$region" = "us-east-1" ]; then
        awslocal --region us-east-1 s3api create-bucket --bucket "$bucket" >/dev/null
    else
        awslocal --region "$region" s3api create-bucket --bucket "$bucket" \
            --create-bucket-configuration "LocationConstraint=$region" >/dev/null
    fi
    echo "shadowreplica: created bucket $bucket ($region)"
}

create source us-east-1
create dest eu-west-1
