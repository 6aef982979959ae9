"""`python -m rdmldg.params check | list | apply NAME`."""

from __future__ import annotations

import sys

from rdmldg.params.loading import _shown, load
from rdmldg.params.profiles import apply_profile, available_profiles
from rdmldg.params.schemas import ParamsError


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m rdmldg.params",
                                     description="The study's parameters: check them, list the profiles, or apply one.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check", help="validate params/*.yaml")
    sub.add_parser("list", help="list the profiles")
    ap = sub.add_parser("apply", help="write params/*.yaml from a profile")
    ap.add_argument("profile")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "check":
            p = load()
            print(f"params OK: {p.data.dataset_name()}, domains {p.data.domain_names()}, "
                  f"held out {p.heldout_domains()}, profile {p.study.profile}; training: "
                  f"{p.train.global_batch_note()}")
        elif args.cmd == "list":
            print("\n".join(available_profiles()))
        else:
            for path in apply_profile(args.profile):
                print(f"wrote {_shown(path)}")
            print("see the change with: dvc params diff")
    except ParamsError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0

