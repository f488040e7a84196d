"""Compare the default run's tables of two clones byte for byte, allowing only the protocol label renames (issue 28)."""
import hashlib, sys
from pathlib import Path
before, after = Path(sys.argv[1]), Path(sys.argv[2])
RENAMES = [("literal", "as_written"), ("adopted", "few_shot")]
def files(root):
    return {p.relative_to(root).as_posix(): p for p in (root / "results" / "tables").rglob("*") if p.is_file()}
b, a = files(before), files(after)
same, renamed_only, differ = [], [], []
for name in sorted(set(b) | set(a)):
    if name not in b or name not in a:
        differ.append((name, "only before" if name in b else "only after")); continue
    tb, ta = b[name].read_bytes(), a[name].read_bytes()
    if tb == ta:
        same.append(name); continue
    mapped = tb
    for old, new in RENAMES:
        mapped = mapped.replace(old.encode(), new.encode())
    if mapped == ta:
        renamed_only.append(name); continue
    lb, la = tb.decode(errors="replace").splitlines(), ta.decode(errors="replace").splitlines()
    ndiff = sum(1 for x, y in zip(lb, la) if x != y) + abs(len(lb) - len(la))
    differ.append((name, f"{ndiff} of {max(len(lb), len(la))} lines differ"))
print(f"byte-identical: {len(same)}; identical after the label renames (literal->as_written, adopted->few_shot): {len(renamed_only)}; differ: {len(differ)}")
for name in renamed_only: print("  renamed labels only:", name)
for name, why in differ: print("  differs:", name, "-", why)
