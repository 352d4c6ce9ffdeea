"""DVC stage: draw one synthetic VOC source (params synth.*) with its injected defects.

Usage: python stages/synthesize.py SIDE OUT   (SIDE: a key of synth.sources)
"""

import argparse
import json
from pathlib import Path

from rpsdet.data.defects import synthesize_source
from rpsdet.params import stage_params


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("side")
    ap.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    synth = stage_params("synth.seed", "synth.width", "synth.height", "synth.max_hands", "synth.sources")["synth"]
    print(json.dumps({args.side: synthesize_source(args.out, synth, args.side)}))


if __name__ == "__main__":
    main()
