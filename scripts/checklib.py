"""What the checks in scripts/ share: the tree they look at."""
import argparse
import pathlib
import sys


def source_tree(doc):
    """Parses --root (default: this repository) and returns (root, root/src).
    Exits with an error line when root/src is not a directory."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--root", default=pathlib.Path(__file__).resolve().parent.parent,
                    type=pathlib.Path, help="the tree whose src/ is checked")
    args = ap.parse_args()
    root = args.root.resolve()
    src = root / "src"
    if not src.is_dir():
        print(f"error: {src} is not a directory")
        sys.exit(1)
    return root, src
