"""`python -m medchat.knowledge build --corpus medquad_answered.jsonl.gz` rebuilds the shipped index;
`python -m medchat.knowledge search "my throat hurts"` shows what a message retrieves."""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_CORPUS = os.environ.get("MEDCHAT_MEDQUAD", "")


def main(argv: list[str] | None = None) -> int:
    from medchat.knowledge.corpus import CorpusError
    from medchat.knowledge.index import DATA_DIR, build_index

    parser = argparse.ArgumentParser(prog="python -m medchat.knowledge", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="embed the corpus and write the index")
    build.add_argument("--corpus", default=DEFAULT_CORPUS or None, required=not DEFAULT_CORPUS,
                       help="MedQuAD answered pairs, jsonl or jsonl.gz (default: $MEDCHAT_MEDQUAD)")
    build.add_argument("--out", default=str(DATA_DIR), help=f"index directory (default: {DATA_DIR})")
    build.add_argument("--limit", type=int, default=None, help="index only the first N passages (quick checks)")
    search = commands.add_parser("search", help="print the passages retrieved for a message")
    search.add_argument("text")
    search.add_argument("--index", default=str(DATA_DIR))
    args = parser.parse_args(argv)
    if args.command == "build":
        try:
            meta = build_index(args.corpus, args.out, progress=True, limit=args.limit)
        except CorpusError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"[medchat.knowledge] wrote {meta['passages']} passages to {args.out} in {meta['build_seconds']} s")
        return 0
    from medchat.knowledge.retriever import Retriever

    retriever = Retriever.load(args.index)
    hits = retriever.search(args.text)
    print(retriever.prompt_context(hits))
    print()
    print(retriever.sources_markdown(hits))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
