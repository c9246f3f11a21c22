"""`convscope bench` (speed against baselines) and `i18n` (the translation catalogs)."""

from __future__ import annotations

import argparse


def cmd_bench(args: argparse.Namespace) -> int:
    from app.bench.engine import main as bench

    bench(args.models or None, quick=args.quick, out=args.out, http=not args.no_http, ray=args.ray,
          browser=not args.no_browser)
    return 0


def cmd_i18n(args: argparse.Namespace) -> int:
    from app import i18n_catalog

    if args.action == "extract":
        for lang, n in i18n_catalog.update().items():
            print(f"{lang}: {n} messages in app/locale/{lang}/LC_MESSAGES/messages.po")
        return 0
    problems = i18n_catalog.check()
    for line in problems:
        print(line)
    print(f"{len(i18n_catalog.extract())} messages; {len(problems)} problem(s)")
    return 1 if problems else 0
