#!/usr/bin/env bash
# Installs what building and testing cairn needs and is missing: the C libraries'
# development packages (Debian), tzdata, cron and faketime (the schedule tests run crontab and
# a sped-up cron daemon), msmtp-mta (the notification tests send mail through its sendmail),
# libarchive-tools and unzip (bsdtar and unzip check exported archives),
# libcurl4-openssl-dev (webhooks go through FoundationNetworking, which a static build links
# against libcurl), python3-pip, and the Python tools the tests use (aiosmtpd is the SMTP sink
# mail goes to; moto is the S3 server), openssl and curl (the server tests make a test CA and
# send raw requests), and chromium (the server's web page is checked in headless Chromium).
set -euo pipefail

packages=(pkg-config libssl-dev zlib1g-dev libzstd-dev libarchive-dev libyaml-dev tzdata cron faketime msmtp-mta libarchive-tools unzip libcurl4-openssl-dev python3-pip openssl curl chromium)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=""
    [[ $(id -u) == 0 ]] || sudo="sudo"
    echo "installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# moto's S3 server (5.2.5 or later: 5.2.1 rejects valid signatures of listings whose prefix
# holds a slash) is the object store the S3 tests run against; botocore, which comes with it,
# is the reference signer the SigV4 tests compare with. openapi-spec-validator checks
# schemas/server-api.openapi.json (Tests/schema/test_server_api.py).
python_ready() {
    python3 - <<'CHECK' 2>/dev/null
import ruamel.yaml, jsonschema, pytest, aiosmtpd, botocore, flask, openapi_spec_validator
from importlib.metadata import version
assert tuple(int(part) for part in version("moto").split(".")[:3]) >= (5, 2, 5)
CHECK
}
if ! python_ready; then
    echo "installing ruamel.yaml, jsonschema, pytest, aiosmtpd, moto[server] and openapi-spec-validator for python3"
    wanted=(ruamel.yaml jsonschema pytest aiosmtpd "moto[server]>=5.2.5" openapi-spec-validator)
    if ! python3 -m pip install --quiet --disable-pip-version-check "${wanted[@]}" 2>/dev/null; then
        # Debian's own python3 refuses pip installs (PEP 668), and has no moto recent enough.
        python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${wanted[@]}"
    fi
fi
