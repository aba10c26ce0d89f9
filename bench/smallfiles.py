#!/usr/bin/env python3
"""cairn's small-files workload: a tree shaped like a kernel source tree, and a day of changes.

  smallfiles.py create DIR [--files N] [--seed S] [--tiny]   # default 80,000 files
  smallfiles.py mutate DIR [--seed S]                          # ~0.5% of files edited, some
                                                               # added and deleted

Shape: N files in about N/16 folders nested up to 8 deep (a few folders hold hundreds of
files, most hold a handful), sizes log-normal around 4 KiB (a tail to 200 KiB, a few empty),
text-like and compressible, every file distinct (its path heads it, as a licence header and
an include guard head a source file). About 1.1 GB at 80,000 files. --tiny gives files of 0-2
KiB, for trees of a million files that fit a small disk. The same arguments always give the
same bytes.
"""
import argparse
import math
import os
import random

from workload import text

POOL_SIZE = 8 << 20


def pool(seed):
    """Text the files are cut from: their bytes differ, their vocabulary is shared."""
    return text(random.Random(seed), POOL_SIZE)


def folders(r, count):
    """Folder paths: each new folder goes under an earlier one, shallow ones more likely."""
    made = [("", 0)]
    names = ["drivers", "net", "fs", "arch", "include", "kernel", "mm", "sound", "tools", "lib",
             "core", "ipv4", "usb", "gpu", "media", "block", "crypto", "scripts", "firmware", "common"]
    for index in range(count - 1):
        while True:
            parent, depth = made[int(len(made) * r.random() ** 2)]
            if depth < 8:
                break
        name = f"{r.choice(names)}{index}"
        made.append((os.path.join(parent, name), depth + 1))
    return [path for path, _ in made]


def size(r, tiny):
    if tiny:
        return r.randint(0, 2048)
    if r.random() < 0.01:
        return 0
    return min(int(math.exp(r.gauss(math.log(4096), 1.1))), 200 * 1024)


def content(r, source, path, length):
    head = f"// {path}\n".encode()
    start = r.randrange(0, POOL_SIZE - length - 1) if length < POOL_SIZE else 0
    return (head + source[start:start + length])[:length] if length else b""


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def create(root, files, seed, tiny):
    r = random.Random(seed)
    source = pool(seed)
    tree = folders(r, max(1, files // 16))
    for index in range(files):
        # Zipf-like: a few folders hold many files.
        folder = tree[min(int(r.paretovariate(0.7)) - 1, len(tree) - 1) if r.random() < 0.3 else r.randrange(len(tree))]
        extension = r.choice([".c", ".c", ".c", ".h", ".h", ".S", ".txt", ".rst", ".yaml", "Makefile"])
        name = f"f{index:07d}{extension}"
        path = os.path.join(folder, name)
        write(os.path.join(root, path), content(r, source, path, size(r, tiny)))


def mutate(root, seed):
    r = random.Random(seed)
    source = pool(seed)
    everything = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
    for path in r.sample(everything, max(1, len(everything) // 200)):
        with open(path, "ab") as f:
            f.write(content(r, source, path, r.randint(16, 512)))
    for path in r.sample(everything, max(1, len(everything) // 1000)):
        os.unlink(path)
    places = sorted({os.path.dirname(p) for p in everything})
    for index in range(max(1, len(everything) // 1000)):
        path = os.path.join(r.choice(places), f"new{seed}-{index}.c")
        write(path, content(r, source, path, size(r, False)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["create", "mutate"])
    parser.add_argument("dir")
    parser.add_argument("--files", type=int, default=80000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tiny", action="store_true")
    arguments = parser.parse_args()
    if arguments.command == "create":
        create(arguments.dir, arguments.files, arguments.seed, arguments.tiny)
    else:
        mutate(arguments.dir, arguments.seed)


if __name__ == "__main__":
    main()
