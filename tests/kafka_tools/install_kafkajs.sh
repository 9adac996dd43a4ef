#!/bin/sh
# Install kafkajs 2.2.4 (the Node.js client: its own protocol code, no librdkafka, no dependencies) into
# tests/kafka_tools/node/node_modules/ for tests/test_kafkajs.py, and Debian's Node.js first when `node` is
# missing. The package comes from npm's registry as its tarball (no npm needed, its checksum checked);
# nothing is fetched at test run time after this.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
sh "$HERE/../debian/install.sh" node nodejs >/dev/null
if [ ! -f "$HERE/node/node_modules/kafkajs/package.json" ]; then
    python3 - "$HERE/node/node_modules" <<'PY'
import hashlib, io, pathlib, sys, tarfile, urllib.request
URL = "https://registry.npmjs.org/kafkajs/-/kafkajs-2.2.4.tgz"
SHA1 = "59e6e16459d87fdf8b64be73970ed5aa42370a5b"  # the registry's dist.shasum for 2.2.4
data = urllib.request.urlopen(URL, timeout=60).read()
if hashlib.sha1(data).hexdigest() != SHA1:
    sys.exit(f"kafkajs tarball checksum mismatch: {hashlib.sha1(data).hexdigest()}")
target = pathlib.Path(sys.argv[1]) / "kafkajs"
target.mkdir(parents=True, exist_ok=True)
with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
    for member in tar.getmembers():
        if member.isfile() and member.name.startswith("package/"):
            out = target / member.name[len("package/"):]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(tar.extractfile(member).read())
PY
fi
node -e "console.log('kafkajs', require('$HERE/node/node_modules/kafkajs/package.json').version)"
