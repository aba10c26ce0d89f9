#!/usr/bin/env python3
"""cairn's benchmark workload: a tree shaped like a working directory, and a day of changes.

  workload.py create DIR [--scale S] [--seed N]   # S=1 gives about 1.5 GB in about 12,200 files
  workload.py mutate DIR [--seed N]               # ~1% of small files edited, some added and
                                                  # deleted, ~11 MB patched inside big.bin

Shape (the same as the standard workload of ../shared/bench): many small text-like files
(1-16 KiB, compressible, all distinct), medium files (256 KiB-4 MiB, half text-like, half
random), and one large file (1 GiB at S=1: a random half, then a text-like half). The same
arguments always give the same bytes.
"""
import argparse
import os
import random

VOCABULARY = None


def vocabulary():
    global VOCABULARY
    if VOCABULARY is None:
        r = random.Random(2026)
        letters = "etaoinshrdlucmfwypvbgkqjxz"
        VOCABULARY = ["".join(r.choice(letters) for _ in range(r.randint(2, 10))) for _ in range(5000)]
        VOCABULARY += ["\n", "{", "}", "=", "(", ")", "0", "1"]
    return VOCABULARY


def text(r, size):
    words = vocabulary()
    parts, total = [], 0
    while total < size:
        # Zipf-like: a few words are very common, as in prose and code.
        word = words[min(int(r.paretovariate(1.2)) - 1, len(words) - 1)]
        parts.append(word)
        total += len(word) + 1
    return " ".join(parts).encode()[:size]


def noise(r, size):
    return r.randbytes(size)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def create(root, scale, seed):
    r = random.Random(seed)
    for i in range(int(12000 * scale)):
        write(os.path.join(root, "small", f"dir{i % 100:02d}", f"file{i:05d}.txt"), text(r, r.randint(1024, 16384)))
    for i in range(int(160 * scale)):
        size = r.randint(256 * 1024, 4 * 1024 * 1024)
        write(os.path.join(root, "medium", f"m{i:03d}.{'txt' if i % 2 == 0 else 'bin'}"), text(r, size) if i % 2 == 0 else noise(r, size))
    half = int(512 * 1024 * 1024 * scale)
    path = os.path.join(root, "large", "big.bin")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        for _ in range(half // (8 << 20)):
            f.write(noise(r, 8 << 20))
        for _ in range(half // (8 << 20)):
            f.write(text(r, 8 << 20))


def mutate(root, seed):
    r = random.Random(seed)
    small = sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(root, "small")) for f in fs)
    for path in r.sample(small, max(1, len(small) // 100)):
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            for _ in range(4):
                data[r.randrange(len(data))] = ord(r.choice("abcdef"))
            data += text(r, 80)
            f.seek(0)
            f.write(data)
    for path in r.sample(small, max(1, len(small) // 200)):
        if os.path.exists(path):
            os.remove(path)
    for i in range(max(1, len(small) // 200)):
        write(os.path.join(root, "small", "new", f"added{seed}_{i:04d}.txt"), text(r, r.randint(1024, 16384)))
    big = os.path.join(root, "large", "big.bin")
    size = os.path.getsize(big)
    with open(big, "r+b") as f:
        for _ in range(64):
            f.seek(r.randrange(size - (176 << 10)))
            f.write(noise(r, 176 << 10))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["create", "mutate"])
    parser.add_argument("dir")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.command == "create":
        create(args.dir, args.scale, args.seed)
    else:
        mutate(args.dir, args.seed)


if __name__ == "__main__":
    main()
