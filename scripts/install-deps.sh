#!/usr/bin/env bash
# Installs what building and testing cairn needs and is missing: the C libraries'
# development packages (Debian), tzdata, cron and faketime (the schedule tests run crontab and
# a sped-up cron daemon), msmtp-mta (the notification tests send mail through its sendmail),
# libarchive-tools and unzip (bsdtar and unzip check exported archives),
# libcurl4-openssl-dev (webhooks go through FoundationNetworking, which a static build links
# against libcurl), and the Python tools the tests use (aiosmtpd is the SMTP sink mail goes to).
set -euo pipefail

packages=(pkg-config libssl-dev zlib1g-dev libzstd-dev libarchive-dev libyaml-dev tzdata cron faketime msmtp-mta libarchive-tools unzip libcurl4-openssl-dev)
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

if ! python3 -c "import ruamel.yaml, jsonschema, pytest, aiosmtpd" 2>/dev/null; then
    echo "installing ruamel.yaml, jsonschema, pytest and aiosmtpd for python3"
    if ! python3 -m pip install --quiet --disable-pip-version-check ruamel.yaml jsonschema pytest aiosmtpd 2>/dev/null; then
        # Debian's own python3 refuses pip installs (PEP 668): use its packages.
        sudo=""
        [[ $(id -u) == 0 ]] || sudo="sudo"
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-ruamel.yaml python3-jsonschema python3-pytest python3-aiosmtpd >/dev/null
    fi
fi
