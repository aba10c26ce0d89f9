#!/usr/bin/env python3
"""Which folders of Sources/CairnCore use types declared in which others, and the pairs of
folders that use each other (docs/ARCHITECTURE.md). Names declared in more than one folder are
left out, and so are comments and strings: a rough measure, not a compiler's."""
import os,re,collections,sys
root=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'Sources', 'CairnCore')
decl={}
files=collections.defaultdict(list)
def strip(t):
    t=re.sub(r'//.*','',t)
    t=re.sub(r'"(?:[^"\\]|\\.)*"','""',t)
    return t
def sources(d):
    """The Swift files of a folder and of the folders inside it (Storage/S3 is Storage), as
    paths relative to the folder."""
    for base, _, names in sorted(os.walk(os.path.join(root, d))):
        for name in sorted(names):
            if name.endswith('.swift'):
                yield os.path.relpath(os.path.join(base, name), os.path.join(root, d))
folders=[d for d in os.listdir(root) if os.path.isdir(os.path.join(root,d))]
for d in folders:
    for f in sources(d):
        t=open(os.path.join(root,d,f)).read()
        files[d].append((f,strip(t)))
        for m in re.finditer(r'^\s*(?:public |internal |private |fileprivate |final |indirect )*(?:struct|class|enum|actor|protocol|typealias)\s+([A-Z]\w+)',t,re.M):
            decl.setdefault(m.group(1),d)
# nested names like Failure/Result are ambiguous: drop names declared in >1 folder
count=collections.Counter()
for d in folders:
    for f,t in files[d]:
        for m in re.finditer(r'^\s*(?:public |internal |private |fileprivate |final |indirect )*(?:struct|class|enum|actor|protocol|typealias)\s+([A-Z]\w+)',t,re.M):
            count[(m.group(1),d)]+=1
amb=collections.Counter(n for (n,d) in count)
deps=collections.defaultdict(lambda: collections.defaultdict(set))
for d,fs in files.items():
    for f,t in fs:
        for w in set(re.findall(r'\b([A-Z]\w+)\b',t)):
            o=decl.get(w)
            if o and o!=d and amb[w]==1: deps[d][o].add(w)
for d in sorted(deps):
    print(d,'->',', '.join(sorted(deps[d])))
cyc=[(a,b,sorted(deps[a][b])[:4],sorted(deps[b][a])[:4]) for a in deps for b in deps[a] if a in deps.get(b,{}) and a<b]
for c in cyc: print('cycle', c[0], '<->', c[1], 'uses', c[2], 'and', c[3])
if '--check' in sys.argv and cyc:
    print('folders of CairnCore use each other: see docs/ARCHITECTURE.md', file=sys.stderr)
    sys.exit(1)

# The run's environment (docs/ARCHITECTURE.md): only RunEnvironment reads the real time, host
# and variables; the fault injector's test switch is the one other reader of the environment.
readers = {'Date()': {'Support/RunEnvironment.swift'},
           'ProcessInfo.processInfo': {'Support/RunEnvironment.swift', 'Support/FaultInjection.swift'},
           'TimeZone.current': {'Support/RunEnvironment.swift'},
           'TimeZone = .current': set(),
           'timeZone: .current': {'Support/RunEnvironment.swift'}}
found = []
for d in sorted(folders):
    for f in sources(d):
        text = strip(open(os.path.join(root, d, f)).read())
        for needle, allowed in readers.items():
            if needle in text and f'{d}/{f}' not in allowed:
                found.append(f'{d}/{f} reads {needle}')
for line in found:
    print('environment:', line)
if '--check' in sys.argv and found:
    print('CairnCore reads the machine outside RunEnvironment: see docs/ARCHITECTURE.md', file=sys.stderr)
    sys.exit(1)
