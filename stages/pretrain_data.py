"""DVC stage: draw the synthetic pretraining set (params pretrain.synth) and validate it into OUT/{train,val}.

Usage: python stages/pretrain_data.py OUT
"""

import argparse
import json
from pathlib import Path

from rpsdet.data.pretrain_set import write_pretrain_set
from rpsdet.params import stage_params


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    print(json.dumps(write_pretrain_set(args.out, stage_params("pretrain.synth")["pretrain"]["synth"])))


if __name__ == "__main__":
    main()
