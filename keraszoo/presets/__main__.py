"""`python -m keraszoo.presets`: the zoo table, model cards, preset archives and the index.

    python -m keraszoo.presets                           the zoo table of the local presets
    python -m keraszoo.presets --update-readme README.md  ... also rewritten in that README
    python -m keraszoo.presets --model-card NAME          write exports/NAME/README.md
    python -m keraszoo.presets list                      every preset: local, cached or remote
    python -m keraszoo.presets pack [NAME[:VERSION] ...] --out DIR
                                                         one archive per preset version (all
                                                         local presets' newest by default)
    python -m keraszoo.presets index                     regenerate the package's preset index
                                                         from the checkout's exports/

A mistake is answered with one `error:` line on stderr and exit status 2. `--help` answers
before TensorFlow is imported.
"""

from __future__ import annotations

import argparse
import os
import sys

from keraszoo import _cli


def _parser() -> argparse.ArgumentParser:
    parser = _cli.ArgumentParser(
        prog="python -m keraszoo.presets",
        description="The zoo's trained presets.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n")[1],
    )
    parser.add_argument("--update-readme", metavar="README", help="rewrite the zoo table of this README")
    parser.add_argument("--model-card", metavar="NAME", help="write exports/NAME/README.md from its manifest")
    commands = parser.add_subparsers(dest="command", metavar="{list,pack,index}")
    commands.add_parser("list", help="every preset and whether it is local, cached or remote")
    packer = commands.add_parser("pack", help="write preset archives (NAME-VERSION.tar) into a folder")
    packer.add_argument("names", nargs="*", metavar="NAME[:VERSION]", help="default: every local preset")
    packer.add_argument("--out", required=True, metavar="DIR", help="the folder to write the archives into")
    indexer = commands.add_parser("index", help="regenerate the package's preset index from exports/")
    indexer.add_argument("--exports", metavar="DIR", help="default: the checkout's exports/")
    indexer.add_argument("--out", metavar="PATH", help="default: the package's keraszoo/presets/index.json")
    return parser


def _pack(names: list[str], out: str) -> None:
    from keraszoo.presets import lookup
    from keraszoo.presets.archive import pack

    for spec in names or lookup.local_names():
        name, version = lookup.split_spec(spec)
        version_dir = lookup.preset_dir(name, version)
        manifest = lookup.read_manifest(name, version_dir)
        print(pack(version_dir, name, manifest["version"], out))


def _index(exports: str | None, out: str | None) -> None:
    from keraszoo.export.saved_model import list_versions
    from keraszoo.presets import index, lookup

    exports = exports or lookup.checkout_exports()
    if exports is None or not os.path.isdir(exports):
        raise ValueError("no exports/ folder: run from a keraszoo checkout or pass --exports DIR")
    presets = []
    for name in sorted(os.listdir(exports)):
        versions = list_versions(exports, name)
        if versions:
            path = os.path.join(exports, name, str(versions[-1]))
            presets.append((name, lookup.read_manifest(name, path), path))
    print(index.write_index(index.build_index(presets), out))


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from keraszoo.presets import cards, lookup  # TensorFlow loads here, after --help

    try:
        if args.command == "pack":
            _pack(args.names, args.out)
        elif args.command == "index":
            _index(args.exports, args.out)
        elif args.command == "list":
            for name, info in lookup.list_presets().items():
                facts = info.get("error") or f"v{info['version']}  {info['metric']}  {info['description']}"
                print(f"{name:24s} {info['where']:7s} {facts}")
        else:
            if not lookup.local_names():
                raise ValueError(
                    f"no local presets in {lookup.preset_roots()} (`list` shows the indexed ones)"
                )
            if args.model_card:
                path = os.path.join(os.path.dirname(lookup.preset_dir(args.model_card)), "README.md")
                text = cards.model_card(args.model_card)
                with open(path, "w") as f:
                    f.write(text)
                print(path)
            if args.update_readme:
                cards.update_readme(args.update_readme)
            print(cards.zoo_table())
    except (ValueError, OSError) as err:
        return _cli.error(err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
