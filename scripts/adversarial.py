#!/usr/bin/env python3
"""Adversarial runs against the built cairn binary, as bad luck and as an attacker would.

  scripts/adversarial.py [--rounds N] [--damage N] [--seed S] [--binary PATH]

Two parts, each checked after every step:

* kill -9 at random moments (and at the fault-injection points) of backup, prune, restore and
  repair, with random edits between rounds: after each round `cairn verify --read-data` must
  pass, every kept snapshot must restore byte-identical to the tree it was taken of, and a
  restore killed half-way and run again must finish with no temporary files left;
* damage to a copy of a good repository, one file at a time: byte flips, truncations and
  deletions of the descriptor, key files, index files, packs, snapshots and locks. No command
  may die of a signal or print a raw decoding error; a damaged index, snapshot or spare key
  file must not stop the other snapshots from restoring; after `cairn repair --apply
  --remove-damaged` the undamaged snapshots still restore.

CI runs a short run (scripts/test.sh); docs/RELIABILITY.md has the figures of a long one. Exits
1 and names the step on the first failure.
"""

import argparse
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Failure(Exception):
    pass


class Lab:
    def __init__(self, binary, seed):
        self.binary = binary
        self.random = random.Random(seed)
        self.dir = tempfile.mkdtemp(prefix="cairn-adversarial-")
        self.source = os.path.join(self.dir, "source")
        self.destination = os.path.join(self.dir, "destination")
        os.makedirs(self.source)
        os.makedirs(self.destination)
        self.env = dict(os.environ, CAIRN_KEY="adversarial key", NO_COLOR="1",
                        XDG_STATE_HOME=os.path.join(self.dir, "state"), XDG_CACHE_HOME=os.path.join(self.dir, "cache"))
        self.env.pop("CAIRN_FAULT_INJECTION", None)
        with open(os.path.join(self.dir, "cairn.yaml"), "w") as f:
            f.write("version: 1\n"
                    "accounts: {local: {destination: ./destination}}\n"
                    "encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}}\n"
                    "retention: {three: {keep-jobs: 3}}\n"
                    "backup-sets:\n"
                    "  files: {account: local, sources: [./source], retention: three, max-removed: off}\n")
        self.manifests = {}  # snapshot id -> {relative path: sha256}
        self.counts = {}

    def count(self, what):
        self.counts[what] = self.counts.get(what, 0) + 1

    def run(self, *arguments, env=None, timeout=300, kill_after=None):
        """Runs cairn; with kill_after, sends SIGKILL after that many seconds if still running."""
        process = subprocess.Popen([self.binary, *arguments], cwd=self.dir, env=env or self.env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = process.communicate(timeout=kill_after if kill_after is not None else timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            out, err = process.communicate()
        out, err = out.decode(errors="replace"), err.decode(errors="replace")
        status = process.returncode
        if status < 0 and not (kill_after is not None and status == -signal.SIGKILL) and \
                not (env is not None and status == -signal.SIGKILL):
            raise Failure(f"cairn {' '.join(arguments)} died of signal {-status}:\n{err}")
        for text in (out, err):
            if "DecodingError" in text or "Fatal error" in text:
                raise Failure(f"cairn {' '.join(arguments)} printed a raw error:\n{text}")
        return status, out, err

    # The tree: random files, edited between rounds.

    def edit(self, count):
        for _ in range(count):
            choice = self.random.random()
            files = self.files()
            if choice < 0.3 or not files:
                folder = os.path.join(self.source, *[f"d{self.random.randrange(4)}" for _ in range(self.random.randrange(3))])
                os.makedirs(folder, exist_ok=True)
                path = os.path.join(folder, f"f{self.random.randrange(10**6)}")
                size = self.random.choice([0, 1, 100, 5000, 70000, 700000])
                with open(path, "wb") as f:
                    f.write(self.random.randbytes(size // 2) + bytes(size - size // 2))
            elif choice < 0.7:
                path = self.random.choice(files)
                with open(path, "r+b") as f:
                    data = f.read()
                    f.seek(0)
                    f.write(data[: len(data) // 2] + self.random.randbytes(self.random.randrange(1, 3000)))
                    f.truncate()
            elif choice < 0.85:
                os.remove(self.random.choice(files))
            else:
                path = self.random.choice(files)
                os.chmod(path, self.random.choice([0o600, 0o644, 0o640, 0o755]))

    def files(self):
        found = []
        for folder, _, names in os.walk(self.source):
            found += [os.path.join(folder, name) for name in names]
        return sorted(found)

    def manifest(self, root):
        result = {}
        for folder, _, names in os.walk(root):
            for name in names:
                path = os.path.join(folder, name)
                if ".cairn-restore-" in name:
                    raise Failure(f"a restore left its temporary file {path}")
                with open(path, "rb") as f:
                    result[os.path.relpath(path, root)] = (hashlib.sha256(f.read()).hexdigest(), os.stat(path).st_mode & 0o7777)
        return result

    def snapshots(self):
        status, out, err = self.run("snapshots", "files", "--json")
        import json
        rows = json.loads(out or "[]")
        return [(row["id"], (row.get("snapshot") or {}).get("status")) for row in rows if "snapshot" in row]

    def restore_matches(self, snapshot, manifest, kill_first=False):
        target = os.path.join(self.dir, "restore")
        shutil.rmtree(target, ignore_errors=True)
        if kill_first:
            self.run("restore", "files", "--snapshot", snapshot[:12], "--to", target, kill_after=self.random.uniform(0.05, 0.6))
            self.count("restores killed")
        status, out, err = self.run("restore", "files", "--snapshot", snapshot[:12], "--to", target, "--overwrite", "if-changed")
        if status != 0:
            raise Failure(f"restore of {snapshot[:8]} failed ({status}):\n{out}{err}")
        restored = self.manifest(target + self.source) if os.path.isdir(target + self.source) else {}
        if restored != manifest:
            missing = set(manifest) - set(restored)
            differ = [p for p in manifest if p in restored and restored[p] != manifest[p]]
            raise Failure(f"snapshot {snapshot[:8]} restores differently: missing {sorted(missing)[:5]}, differ {differ[:5]}")
        self.count("restores checked")

    # Part 1: kills.

    def kill_rounds(self, rounds):
        points = ["pack-written", "index-written", "before-snapshot", "file-stored"]
        for round in range(rounds):
            self.edit(self.random.randrange(2, 12))
            before = self.manifest(self.source)
            mode = "clean" if round == 0 else self.random.choice(["clean", "point", "timed", "timed"])
            env = None
            if mode == "point":
                env = dict(self.env, CAIRN_FAULT_INJECTION=f"{self.random.choice(points)}:{self.random.randrange(1, 4)}")
            status, out, err = self.run("backup", "-q", env=env, kill_after=self.random.uniform(0.1, 1.5) if mode == "timed" else None)
            self.count(f"backups {mode}")
            if status == 0:
                # Finished (a kill that came too late, or a fault point not reached): a
                # complete snapshot of `before`.
                latest = self.snapshots()[-1]
                if latest[1] != "complete":
                    raise Failure(f"round {round}: a backup that exited 0 saved a {latest[1]} snapshot")
                self.manifests[latest[0]] = before
            elif status < 0:
                self.count("backups killed")
            # A prune killed now and then, then one that finishes.
            if self.random.random() < 0.4:
                self.run("prune", "files", kill_after=self.random.uniform(0.05, 0.5))
                self.count("prunes killed")
            if self.random.random() < 0.2:
                self.run("repair", "files", "--apply", kill_after=self.random.uniform(0.05, 0.5))
                self.count("repairs killed")
            status, out, err = self.run("prune", "files")
            if status != 0:
                raise Failure(f"round {round}: prune failed:\n{out}{err}")
            status, out, err = self.run("verify", "files", "--read-data")
            if status != 0:
                raise Failure(f"round {round}: verify after {mode} backup failed:\n{out}{err}")
            kept = {snapshot for snapshot, _ in self.snapshots()}
            for snapshot, manifest in list(self.manifests.items()):
                if snapshot not in kept:
                    del self.manifests[snapshot]
                    continue
                self.restore_matches(snapshot, manifest, kill_first=self.random.random() < 0.3)
            self.count("rounds")

    # Part 2: damage, one file at a time, on copies of the repository.

    def damage_rounds(self, count):
        repository = os.path.join(self.destination, "files")
        pristine = os.path.join(self.dir, "pristine")
        shutil.rmtree(pristine, ignore_errors=True)
        shutil.copytree(repository, pristine)
        good = dict(self.manifests)
        for _ in range(count):
            shutil.rmtree(repository)
            shutil.copytree(pristine, repository)
            files = []
            for folder, _, names in os.walk(repository):
                files += [os.path.join(folder, name) for name in names]
            victim = self.random.choice(files)
            kind = os.path.relpath(victim, repository).split(os.sep)[0]
            how = self.random.choice(["flip", "flip", "truncate", "delete", "zero"])
            with open(victim, "rb") as f:
                data = bytearray(f.read())
            if how == "flip" and data:
                data[self.random.randrange(len(data))] ^= 1 << self.random.randrange(8)
            elif how == "truncate":
                data = data[: self.random.randrange(len(data) + 1)]
            elif how == "zero" and data:
                at = self.random.randrange(len(data))
                data[at:at + 16] = bytes(len(data[at:at + 16]))
            if how == "delete":
                os.remove(victim)
            else:
                with open(victim, "wb") as f:
                    f.write(data)
            self.count(f"damaged {kind}")
            for command in (["snapshots", "files"], ["ls", "files"], ["verify", "files", "--read-data"], ["key", "list", "files"],
                            ["repair", "files"]):
                self.run(*command)
            if kind in ("index", "locks") or (kind == "keys" and how != "delete"):
                # Redundant or spare: every snapshot still restores (the key in use may be the
                # damaged one: then nothing opens, which is said, not crashed on).
                status, out, err = self.run("snapshots", "files")
                if status == 0 or kind != "keys":
                    for snapshot, manifest in good.items():
                        self.restore_matches(snapshot, manifest)
            if kind == "snapshots":
                damaged = os.path.basename(victim)
                for snapshot, manifest in good.items():
                    if snapshot != damaged:
                        self.restore_matches(snapshot, manifest)
            status, out, err = self.run("repair", "files", "--apply", "--remove-damaged")
            if kind in ("index", "snapshots", "locks") and status != 0:
                raise Failure(f"repair after damage to {victim} ({how}) failed:\n{out}{err}")
            if kind in ("index", "locks"):
                status, out, err = self.run("verify", "files", "--read-data")
                if status != 0:
                    raise Failure(f"verify after repairing {victim} ({how}) failed:\n{out}{err}")
            self.count("damage cases")
        shutil.rmtree(repository)
        shutil.copytree(pristine, repository)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--damage", type=int, default=12)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "debug", "cairn"))
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    options = parser.parse_args()
    lab = Lab(options.binary, options.seed)
    started = time.time()
    try:
        lab.edit(40)
        lab.kill_rounds(options.rounds)
        lab.damage_rounds(options.damage)
    except Failure as failure:
        print(f"adversarial run FAILED (seed {options.seed}, folder {lab.dir}): {failure}", file=sys.stderr)
        sys.exit(1)
    print(f"adversarial run passed (seed {options.seed}, {time.time() - started:.0f} s): "
          + ", ".join(f"{key} {value}" for key, value in sorted(lab.counts.items())))
    if not options.keep:
        shutil.rmtree(lab.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
